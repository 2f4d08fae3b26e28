"""Benchmarks. `cshealth bench` (run: the phases and watching the worker; event_set, plain_consumer,
report; do_nothing_agent and naive_agent, the Faust baselines) measures the worker through a real
Kafka; replay_bench measures the offline replay alone. Figures: docs/performance.md."""
