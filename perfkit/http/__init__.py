"""HTTP workloads: request scripts run against the application's ASGI app.

A team's ``AsyncClient`` tests, as perfkit workloads: a script of requests (method, path,
query, JSON body, headers) whose values come from the prepared data, sent to the application's
ASGI app in process (httpx's ``ASGITransport``, with the app's lifespan run by asgi-lifespan)
or, for the numbers with the network and serialization in them, to the app under a real
uvicorn process on 127.0.0.1. The application's dependencies are overridden from scales.yaml
(``app.http.overrides``): its database session to perfkit's, on the prepared data; its current
user to one picked from the data; rate limiters off. Load (users or a rate) and its budgets
come from :mod:`perfkit.loadgen`.

Modules: :mod:`.script` (a script bound to the data's rows), :mod:`.overrides` (dependency
overrides), :mod:`.client` (in process), :mod:`.server` and :mod:`.serve` (uvicorn in a
process of its own), :mod:`.target` (the client on the data, and a load run of a script).
They need ``pip install perfkit[http]``. scales.yaml's models are :mod:`perfkit.httpconfig`,
outside this package (msgspec structs of the config: the configuration imports them without
the ``http`` extra and without a cycle).
"""
