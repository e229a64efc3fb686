"""Deployments, the I/O part: executor, targets, routers, the local deploy agent.

Light on purpose (the CLI imports submodules lazily):

* :mod:`pheme.deploy.target`    the Target interface every platform implements
* :mod:`pheme.deploy.executor`  carries a strategy's actions out against a Target and records them
* :mod:`pheme.deploy.local`     the local target: supervised processes behind a router
* :mod:`pheme.deploy.proxy`     the embedded asyncio reverse proxy (router "builtin")
* :mod:`pheme.deploy.nginx`     Pheme's own nginx instance (router "nginx")
* :mod:`pheme.deploy.agent`     the per-PHEME_HOME daemon that owns processes and routers
* :mod:`pheme.deploy.client`    the CLI's side of the agent's Unix-socket API
* :mod:`pheme.deploy.service`   use cases: deploy, rollout status/promote/abort, rollback, listings

The pure part (deploy file model, strategies, records) is :mod:`pheme.core.deploy`.
"""
