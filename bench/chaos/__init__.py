"""`make chaos`: the stack under faults, with charge points that behave like real ones.

Modules: `cluster` (a private Postgres cluster and RabbitMQ node, the services as processes),
`faults` (the fault schedule), `simulator` (charge points: 1.6 and 2.0.1, resends after
reconnecting), `ledger` (what the charge points got answers for), `accounting` (the
comparison with Postgres and the printed table), `__main__` (the run). See docs/chaos.md.
"""
