"""Monitoring: Prometheus metrics and OpenTelemetry traces, both optional.

* :mod:`omniq.monitoring.observer`: the hooks a worker calls as tasks run (no dependency).
* :mod:`omniq.monitoring.prometheus`: store-level metrics read on each scrape
  (queue depth, due tasks, live workers), for the dashboard's ``/metrics``.
* :mod:`omniq.monitoring.worker_metrics`: a worker's own metrics (tasks finished, durations,
  queue wait, retries, lease recoveries), served by ``omniq worker --metrics-port``.
* :mod:`omniq.monitoring.tracing`: a producer span per enqueue whose context travels with
  the task, and a consumer span per execution (:mod:`omniq.monitoring.execution_spans`).

Nothing here imports ``prometheus_client`` or ``opentelemetry`` until asked: a worker
without ``metrics_port`` and a process without ``opentelemetry-api`` pay nothing.
"""
