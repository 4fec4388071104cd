//! Webhooks (`/api/webhooks`; shared secret only: another credential
//! gets [`Error::Server`](crate::Error::Server) 403).

use reqwest::Method;

use tubemail_core::hooks::{
    DeliveriesResponse, WebhookDeleted, WebhookTestResponse, WebhooksResponse,
};
pub use tubemail_core::hooks::{
    DeliveryStatus, DeliveryView, WebhookEvent, WebhookFormat, WebhookRequest, WebhookView,
};

use crate::error::Result;
use crate::transport::{Client, NO_BODY, seg};

impl Client {
    /// Every webhook, URLs redacted.
    pub async fn webhooks(&self) -> Result<Vec<WebhookView>> {
        Ok(self
            .get::<WebhooksResponse>("/api/webhooks")
            .await?
            .webhooks)
    }

    /// Adds a webhook ([`Error::BadRequest`](crate::Error::BadRequest) for
    /// a bad URL, no events, …).
    pub async fn add_webhook(&self, req: &WebhookRequest) -> Result<WebhookView> {
        self.post("/api/webhooks", req).await
    }

    /// Replaces a webhook's settings (a `None` secret keeps the current one).
    pub async fn update_webhook(&self, id: &str, req: &WebhookRequest) -> Result<WebhookView> {
        self.call(
            Method::PUT,
            &format!("/api/webhooks/{}", seg(id)),
            Some(req),
            false,
        )
        .await
    }

    /// Removes a webhook ([`Error::NotFound`](crate::Error::NotFound) for
    /// an unknown id).
    pub async fn remove_webhook(&self, id: &str) -> Result<()> {
        let _: WebhookDeleted = self
            .call(
                Method::DELETE,
                &format!("/api/webhooks/{}", seg(id)),
                NO_BODY,
                false,
            )
            .await?;
        Ok(())
    }

    /// A webhook's notifications, newest first (at most `limit`).
    pub async fn webhook_deliveries(&self, id: &str, limit: u32) -> Result<Vec<DeliveryView>> {
        Ok(self
            .get::<DeliveriesResponse>(&format!(
                "/api/webhooks/{}/deliveries?limit={limit}",
                seg(id)
            ))
            .await?
            .deliveries)
    }

    /// Enqueues a `test` notification; its delivery id.
    pub async fn test_webhook(&self, id: &str) -> Result<u64> {
        let r: WebhookTestResponse = self
            .post_empty(&format!("/api/webhooks/{}/test", seg(id)))
            .await?;
        Ok(r.delivery_id)
    }
}
