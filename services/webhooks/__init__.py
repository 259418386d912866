"""The webhooks service: relays the event outbox, delivers public events to webhooks."""
