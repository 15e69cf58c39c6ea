//! Accounts of an organisation on moto's Organizations (which lets any role in them be assumed).

use super::Moto;

/// Creates a member account named `name` in the organisation and returns its id.
pub async fn member_account(moto: &Moto, name: &str) -> String {
    aws_sdk_organizations::Client::new(&moto.sdk("us-east-1").await)
        .create_account()
        .email(format!("{name}@example.com"))
        .account_name(name)
        .send()
        .await
        .unwrap()
        .create_account_status
        .unwrap()
        .account_id
        .unwrap()
}
