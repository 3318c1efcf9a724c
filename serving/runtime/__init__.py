"""What runs behind the API: the served model, the worker process, and the shared guards.

- `model_holder`: `ModelHolder`, which follows the registered champion and answers every
  recommendation (how a recommendation is computed: `ModelHolder.recommend`); `candidates`:
  the champion's precomputed top lists.
- `wsgi`: the gunicorn server `discerner serve` runs; `sockets`: the per-request read deadline.
- `tokens`, `throttle`: token verification and revocation, the failed-login limits.
- `metrics`: the Prometheus metrics; `state`: the objects one app shares between requests.
- `launch`: `discerner serve` as a child process (tests and benchmarks).
"""
