"""Public events for third-party apps (docs/events.md).

- `catalogue`: the event types, their pydantic data models and the versioned envelope;
- `outbox`: writing events in the transaction of their change, relaying them after commit;
- `projection`: the public events of the services' internal domain events;
- `asyncapi`: the AsyncAPI document generated from the catalogue.
"""
