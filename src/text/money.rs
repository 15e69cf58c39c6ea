//! Money, said the same way in the check table, the alert and the e-mail.

use crate::core::money::TypeCost;
use crate::core::tokens::ModelCost;

/// `p4d.24xlarge ×2 $65.55/h (accelerated) · t3.micro ×1 $0.01/h`.
pub fn top_types(types: &[TypeCost]) -> String {
    types
        .iter()
        .map(|t| {
            format!(
                "{} ×{} ${:.2}/h{}",
                t.instance_type,
                t.instances,
                t.usd_per_hour,
                if t.accelerated { " (accelerated)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// How many models a line names; the rest are counted.
const MODELS_NAMED: usize = 5;

/// `anthropic.claude-3-haiku-20240307-v1:0 $41.25/h · amazon.nova-pro-v1:0 $3.20/h · 2 more`.
pub fn model_costs(models: &[ModelCost]) -> String {
    let mut parts: Vec<String> = models
        .iter()
        .take(MODELS_NAMED)
        .map(|m| format!("{} ${:.2}/h", m.model_id, m.usd_per_hour))
        .collect();
    if models.len() > MODELS_NAMED {
        parts.push(format!("{} more", models.len() - MODELS_NAMED));
    }
    parts.join(" · ")
}

/// `bedrock provisioned throughput reserved (us-east-1, InService): 2 model units of MODEL, 6
/// Months; $88.00/h`, or why it has no cost.
pub fn provisioned(p: &crate::core::provisioned::Provisioned) -> String {
    format!(
        "bedrock provisioned throughput {} ({}, {}): {} model units of {}, {}; {}",
        p.name,
        p.region,
        p.status,
        p.model_units,
        p.model_id(),
        crate::core::provisioned::commitment_term(p.commitment.as_deref()),
        match (p.usd_per_hour, &p.unpriced) {
            (Some(usd), _) => format!("${usd:.2}/h"),
            (None, Some(why)) => format!("cost unknown: {why}"),
            (None, None) => "not billed".into(),
        }
    )
}
