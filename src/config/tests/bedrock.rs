//! The Bedrock settings: `block_bedrock` needs its deny policy; `bedrock_principals` are IAM
//! user or role ARNs, inherited from `[guard]` and set again per account.

use super::{check_err, parse};

const ACCOUNT: &str = "[[accounts]]\nid = \"111111111111\"\n";

#[test]
fn block_bedrock_needs_the_deny_policy_and_principals_are_arns() {
    check_err(
        &format!("{ACCOUNT}actions = [\"block_bedrock\"]\n"),
        "accounts[0].actions",
        "block_bedrock needs bedrock_deny_policy_arn",
    );
    let ok = parse(&format!(
        "[guard]\nbedrock_deny_policy_arn = \"arn:aws:iam::111111111111:policy/runawaytrain-bedrock-deny\"\n\
         bedrock_principals = [\"arn:aws:iam::111111111111:role/chatbot\"]\n\
         {ACCOUNT}actions = [\"stop_instances\", \"block_bedrock\"]\n\
         [[accounts]]\nid = \"222222222222\"\nrole_arn = \"arn:aws:iam::222222222222:role/m\"\n\
         bedrock_principals = [\"arn:aws:iam::222222222222:user/ml/alice\"]\n"
    ))
    .unwrap();
    let (payer, member) = (&ok.accounts[0].policy, &ok.accounts[1].policy);
    assert_eq!(
        payer.bedrock_deny_policy_arn.as_deref(),
        Some("arn:aws:iam::111111111111:policy/runawaytrain-bedrock-deny")
    );
    assert_eq!(
        payer.bedrock_principals,
        ["arn:aws:iam::111111111111:role/chatbot"]
    );
    assert_eq!(
        member.bedrock_principals,
        ["arn:aws:iam::222222222222:user/ml/alice"]
    );
    assert_eq!(
        member.bedrock_deny_policy_arn, payer.bedrock_deny_policy_arn,
        "inherited from [guard]"
    );
    for bad in [
        "\"chatbot\"",
        "\"arn:aws:iam::111111111111:policy/x\"",
        "\"arn:aws:iam::1111:role/x\"",
        "\"arn:aws:sts::111111111111:assumed-role/x/y\"",
        "\"arn:aws:iam::111111111111:role/\"",
    ] {
        check_err(
            &format!("[guard]\nbedrock_principals = [{bad}]\n{ACCOUNT}"),
            "guard.bedrock_principals[0]",
            "expected an IAM user or role ARN",
        );
    }
    check_err(
        &format!("{ACCOUNT}bedrock_deny_policy_arn = \"deny\"\n"),
        "accounts[0].bedrock_deny_policy_arn",
        "expected an IAM managed policy ARN",
    );
}
