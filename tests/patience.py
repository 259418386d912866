"""How long a test waits for what should happen: a failure detector, never a speed check.

Generous on purpose: on a busy 2-core machine (CI, a developer's laptop running builds) a
broker round trip or a process start can take seconds. A test waits *up to* PATIENCE for an
outcome and asserts the outcome; it never asserts how long something took (durations are
figures of `make bench`). Tests about a timeout make the other party silent and give the
timeout under test a short value of its own.
"""

PATIENCE = 60.0
"""Seconds a test waits for a condition, an answer or a process before it fails."""
