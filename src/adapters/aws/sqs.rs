//! The event path's queue: SQS, long-polled with the guard's own credentials in the queue's
//! region.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use aws_types::region::Region;

use super::classify;
use crate::config::Events;
use crate::ports::{CloudError, ErrorKind, EventQueue, QueueMessage, QueueSettings};

/// SQS's limits: at most 10 messages a receive or a delete batch, at most 20 s of long polling,
/// and a visibility timeout of at most 12 hours.
const MAX_BATCH: usize = 10;
const MAX_WAIT: Duration = Duration::from_secs(20);
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(aws: &super::Aws, events: &Events) -> SqsQueue {
        SqsQueue::with_config(&aws.base, events)
    }

    fn with_config(base: &SdkConfig, events: &Events) -> SqsQueue {
        // The long poll holds the request open for up to 20 s: the attempt timeout must outlast
        // it (the base configuration's 30 s does).
        let conf = aws_sdk_sqs::config::Builder::from(base)
            .region(Region::new(events.region.to_string()))
            .build();
        SqsQueue {
            client: aws_sdk_sqs::Client::from_conf(conf),
            url: events.queue_url.clone(),
        }
    }
}

#[async_trait]
impl EventQueue for SqsQueue {
    async fn settings(&self) -> Result<QueueSettings, CloudError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| classify("sqs:GetQueueAttributes", e))?;
        let attrs = out.attributes();
        let get = |name: QueueAttributeName| attrs.and_then(|a| a.get(&name)).cloned();
        let max_receive_count = match get(QueueAttributeName::RedrivePolicy) {
            None => None,
            Some(text) => {
                let policy: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| malformed("RedrivePolicy", &e))?;
                // SQS has sent the count both as a number and as a string.
                match &policy["maxReceiveCount"] {
                    serde_json::Value::Number(n) => n.as_u64().map(|n| n as u32),
                    serde_json::Value::String(s) => s.parse().ok(),
                    _ => None,
                }
            }
        };
        let visibility_timeout = get(QueueAttributeName::VisibilityTimeout)
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(30));
        Ok(QueueSettings {
            max_receive_count,
            visibility_timeout,
        })
    }

    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<QueueMessage>, CloudError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH as u32) as i32)
            .wait_time_seconds(wait.min(MAX_WAIT).as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| classify("sqs:ReceiveMessage", e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(QueueMessage {
                    message_id: m.message_id()?.to_owned(),
                    receipt: m.receipt_handle()?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: &[String]) -> Result<Vec<(String, String)>, CloudError> {
        let mut failed = Vec::new();
        for batch in receipts.chunks(MAX_BATCH) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = batch
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("sqs:DeleteMessage", e))?;
            for f in out.failed() {
                if let Some(receipt) = f.id().parse::<usize>().ok().and_then(|i| batch.get(i)) {
                    let why = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                    failed.push((receipt.clone(), why));
                }
            }
        }
        Ok(failed)
    }

    async fn release(&self, receipt: &str, after: Duration) -> Result<(), CloudError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(after.min(MAX_VISIBILITY).as_secs() as i32)
            .send()
            .await
            .map_err(|e| classify("sqs:ChangeMessageVisibility", e))?;
        Ok(())
    }
}

fn malformed(attribute: &str, e: &dyn std::fmt::Display) -> CloudError {
    CloudError {
        kind: ErrorKind::Other,
        operation: "sqs:GetQueueAttributes",
        code: None,
        message: format!("the queue's {attribute} is not JSON: {e}"),
    }
}
