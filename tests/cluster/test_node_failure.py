"""Several Ray nodes on this machine: a model's two replicas sit on different worker nodes, one
node dies under traffic, requests keep succeeding after retries, the replica count recovers on
the spare node, and every credit is accounted for. Run with `make test-cluster`."""

import asyncio
import os
import time
from collections import Counter

import httpx
import pytest

from serve_app.db.session import Database
from serve_app.services import credits
from tests.conftest import free_port
from tests.factories import app_args, checked_balance, tiny_model_entry, user_with_key

pytestmark = pytest.mark.cluster
MODEL_NODE = "pixelray-model-node"


@pytest.fixture(scope="module")
def cluster():
    """A head (ingress, proxy, controller) and three model worker nodes, each its own raylet."""
    # A private loopback cluster: no auth token, whose file in ~/.ray other clusters share.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "resources": {"pixelray-head": 1}, "include_dashboard": False},
    )
    workers = [cluster.add_node(num_cpus=1, resources={MODEL_NODE: 1}) for _ in range(3)]
    ray.init(
        address=cluster.address,
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}},
    )
    cluster.wait_for_nodes()
    yield cluster, workers
    from ray import serve

    serve.shutdown()
    ray.shutdown()
    cluster.shutdown()


def replica_nodes(deployment: str) -> list[str]:
    """Node ids of the deployment's live replicas, when Serve counts every one of them running.
    Read from the GCS actor table: the state API needs the dashboard, which this cluster lacks."""
    import ray
    from ray import serve

    app = serve.status().applications.get("pixelray")
    if app is None or deployment not in app.deployments:
        return []
    status = app.deployments[deployment]
    prefix = f"SERVE_REPLICA::pixelray#{deployment}#"
    nodes = [
        actor["Address"]["NodeID"]
        for actor in ray._private.state.actors().values()
        if actor["State"] == "ALIVE" and actor["Name"].startswith(prefix)
    ]
    return nodes if len(nodes) == status.replica_states.get("RUNNING", 0) else []


async def generate_with_retries(client: httpx.AsyncClient, key: str, prompt: str) -> tuple[int, int, float]:
    """(final status, failed attempts, when it ended): retries 5xx and dropped connections like a
    client would."""
    failures = 0
    for attempt in range(10):
        try:
            response = await client.post(
                "/api/v1/generate", json={"prompt": prompt}, headers={"Authorization": f"Bearer {key}"}
            )
            if response.status_code < 500:
                return response.status_code, failures, time.monotonic()
        except httpx.TransportError:
            pass
        failures += 1
        await asyncio.sleep(min(0.5 * 2**attempt, 4))
    return 599, failures, time.monotonic()


async def test_requests_survive_a_worker_node_dying_and_replicas_recover(cluster, tmp_path, model_cache_dir):
    from ray import serve

    from serve_app.app import build_app

    ray_cluster, workers = cluster
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    args = app_args(
        tmp_dir=str(tmp_path),
        model_cache_dir=str(model_cache_dir),
        public_base_url=base_url,
        models=[
            tiny_model_entry(
                deployment={
                    "num_replicas": 2,
                    "max_ongoing_requests": 16,
                    # One model-node resource per node and per replica: two replicas, two different nodes.
                    "ray_actor_options": {"num_cpus": 0, "resources": {MODEL_NODE: 1}},
                    "health_check_period_s": 1,
                    "health_check_timeout_s": 5,
                }
            )
        ],
        ingress={
            "num_replicas": 1,
            "max_ongoing_requests": 256,
            "ray_actor_options": {"num_cpus": 0, "resources": {"pixelray-head": 0.5}},
        },
    )
    # One machine: a proxy per node would fight over the port, so only the head proxies.
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    started = time.monotonic()
    serve.run(build_app(args), name="pixelray", route_prefix="/", blocking=False)
    db = Database(args["database_url"])
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        before: list[str] = []
        while len(before) < 2:
            assert time.monotonic() - started < 180, "the app did not start two tiny-sd replicas within 180 s"
            await asyncio.sleep(0.5)
            before = replica_nodes("tiny-sd")
        assert len(set(before)) == 2, f"both replicas landed on one node: {before}"
        while (await client.get("/api/v1/health")).status_code != 200:
            assert time.monotonic() - started < 180, "the app did not become healthy within 180 s"
            await asyncio.sleep(0.5)
        ready_s = time.monotonic() - started

        user_id, key = await user_with_key(db)
        start_balance = await credits.balance(db=db, user_id=user_id)
        victim = next(w for w in workers if w.node_id in before)

        async def traffic() -> list[tuple[int, int, float]]:
            results = []
            for wave in range(12):
                results += await asyncio.gather(
                    *(generate_with_retries(client, key, f"fox {wave}-{i}") for i in range(4))
                )
            return results

        load = asyncio.create_task(traffic())
        await asyncio.sleep(2)
        killed_at = time.monotonic()
        # Ungraceful: the raylet and every worker on the node die at once, like a lost machine.
        ray_cluster.remove_node(victim, allow_graceful=False)

        recovered_s = None
        while time.monotonic() - killed_at < 120:
            after = replica_nodes("tiny-sd")
            if len(after) == 2 and victim.node_id not in after:
                recovered_s = time.monotonic() - killed_at
                break
            await asyncio.sleep(0.5)
        results = await load
    statuses = Counter(status for status, _, _ in results)
    retried = sum(1 for _, failures, _ in results if failures)
    during = sum(1 for _, _, ended in results if killed_at < ended < killed_at + (recovered_s or 0))
    print(
        f"\ncluster: app ready in {ready_s:.1f} s; {len(results)} requests, statuses {dict(statuses)}, "
        f"{retried} needed retries ({sum(f for _, f, _ in results)} failed attempts), "
        f"{during} served while a replica was down; "
        f"replicas back to 2 on live nodes {recovered_s and round(recovered_s, 1)} s after the node died"
    )
    assert statuses == {200: len(results)}
    assert recovered_s is not None, "the replica count did not recover within 120 s"
    assert during > 0, "no request was served while the lost replica was being replaced"
    assert len(set(after)) == 2

    # Every failed attempt was refunded: the user paid for exactly the images they got.
    balance = await checked_balance(db, user_id)
    assert start_balance - balance == len(results) * 1
    await db.dispose()
    serve.delete("pixelray")
