"""cshealth domain: pure Python, deterministic, no Kafka/Faust, no wall clock.

events      contracts + never-raising decode()        schemas  JSON Schema files from the models
config      versioned TOML -> pydantic (ConfigError)   state    CustomerState <-> bytes
metrics/*   one reducer per metric family              score    components -> 0-100 + attribution
bands       hysteresis + dwell                         rules    alert conditions per tick
alerts      transitions, cooldowns, alert records      ticks    daily tick evaluation + exact skipping
customer    apply / derived_events / advance / snapshot (the API streams/ calls)
replay      replay(lines) -> snapshots, alerts, summary            bench  throughput benchmark
"""
