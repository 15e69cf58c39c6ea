//! Money, said the same way in the check table, the alert and the e-mail.

use crate::core::money::TypeCost;

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
