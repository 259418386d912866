"""`/webhooks`: subscriptions of third-party URLs to public events (docs/events.md)."""
