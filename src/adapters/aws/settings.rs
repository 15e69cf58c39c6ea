//! The bot's settings where it is deployed: the configuration and the Slack tokens read at start
//! from SSM Parameter Store (SecureString parameters, decrypted) or Secrets Manager, with the
//! standard credentials and region chain (the instance's role and region). Values are returned,
//! never logged; an error names the parameter or secret, never a value.

use aws_config::{BehaviorVersion, SdkConfig};

use super::classify;
use crate::ports::CloudError;

pub struct Settings {
    sdk: SdkConfig,
}

impl Settings {
    pub async fn from_env() -> Settings {
        Settings {
            sdk: aws_config::defaults(BehaviorVersion::latest()).load().await,
        }
    }

    /// A parameter's value, decrypted if it is a SecureString.
    pub async fn parameter(&self, name: &str) -> Result<String, CloudError> {
        let out = aws_sdk_ssm::Client::new(&self.sdk)
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| classify("ssm:GetParameter", e))?;
        Ok(out.parameter.and_then(|p| p.value).unwrap_or_default())
    }

    /// A secret's string value (its name or ARN).
    pub async fn secret(&self, id: &str) -> Result<String, CloudError> {
        let out = aws_sdk_secretsmanager::Client::new(&self.sdk)
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| classify("secretsmanager:GetSecretValue", e))?;
        Ok(out.secret_string.unwrap_or_default())
    }
}
