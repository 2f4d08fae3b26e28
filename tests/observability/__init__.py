"""Tests of the monitoring configuration: prometheus/ and grafana/.

Helpers other tests may import (e.g. an end-to-end test against a real
Prometheus):

- ``grafana_queries.panel_queries(dashboard, variables)``: every panel query
  of a dashboard with Grafana's variables substituted;
- ``render_config.render_prometheus_config`` / ``render_alertmanager_config``:
  the repo's configs with other targets, URLs or intervals;
- ``metrics_catalog``: the worker's metric names, labels and label values.
"""
