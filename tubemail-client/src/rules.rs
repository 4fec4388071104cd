//! Permission rules (`/api/rules`): the ordered list that answers prompts
//! before a person sees them.

use reqwest::Method;

use tubemail_core::api::{RuleDeleted, RuleTestRequest, RulesList};

use crate::error::Result;
use crate::transport::{Client, NO_BODY, seg};

pub use tubemail_core::api::RuleDecision;
pub use tubemail_core::{PermissionRule, RuleRef, RuleVerdict};

impl Client {
    /// The rules in order (first match wins).
    pub async fn rules(&self) -> Result<Vec<PermissionRule>> {
        Ok(self.get::<RulesList>("/api/rules").await?.rules)
    }

    /// Replaces the whole list; returns it with ids assigned. An invalid
    /// glob or regex is [`crate::Error::BadRequest`] naming the rule.
    pub async fn set_rules(&self, rules: Vec<PermissionRule>) -> Result<Vec<PermissionRule>> {
        let body = RulesList { rules };
        let r: RulesList = self
            .call(Method::PUT, "/api/rules", Some(&body), false)
            .await?;
        Ok(r.rules)
    }

    /// Adds a rule at `position` (the end when `None`); returns it with its id.
    pub async fn add_rule(
        &self,
        rule: &PermissionRule,
        position: Option<usize>,
    ) -> Result<PermissionRule> {
        let path = match position {
            Some(p) => format!("/api/rules?position={p}"),
            None => "/api/rules".to_owned(),
        };
        self.post(&path, rule).await
    }

    /// Replaces the rule with this id, in place.
    pub async fn update_rule(&self, id: &str, rule: &PermissionRule) -> Result<PermissionRule> {
        self.call(
            Method::PUT,
            &format!("/api/rules/{}", seg(id)),
            Some(rule),
            false,
        )
        .await
    }

    /// Deletes a rule ([`crate::Error::NotFound`] for an unknown id).
    pub async fn delete_rule(&self, id: &str) -> Result<()> {
        let _: RuleDeleted = self
            .call(
                Method::DELETE,
                &format!("/api/rules/{}", seg(id)),
                NO_BODY,
                false,
            )
            .await?;
        Ok(())
    }

    /// Which rule would decide a prompt, and how (nothing is recorded).
    pub async fn test_rules(&self, prompt: &RuleTestRequest) -> Result<RuleDecision> {
        self.post("/api/rules/test", prompt).await
    }
}
