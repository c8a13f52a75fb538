"""Why tests reset Celery's broker pools with tests.connectors.workers.reset_celery_pools."""

from __future__ import annotations

import pytest
from celery import Celery

from tests.connectors.workers import reset_celery_pools


@pytest.fixture
def memory_app():
    app = Celery("fixops-pools-test", set_as_current=False, broker="memory://")
    yield app
    reset_celery_pools(app)  # leave no closed pool behind for later tests
    app.close()


def test_closing_only_the_apps_pool_breaks_every_later_send(memory_app):
    memory_app.send_task("fixops.test.noop", queue="fixops-pools-test")  # builds the pool
    memory_app.pool.force_close_all()  # what the tests' reset used to do
    memory_app._pool = None
    memory_app.amqp._producer_pool = None
    other = Celery("fixops-pools-other", set_as_current=False, broker="memory://")
    with pytest.raises(RuntimeError, match="Acquire on closed pool"):
        other.send_task("fixops.test.noop", queue="fixops-pools-test")  # kombu kept it


def test_reset_lets_the_next_send_build_new_pools(memory_app):
    queue = "fixops-pools-test-reset"  # the memory transport's queues live for the process
    memory_app.send_task("fixops.test.noop", queue=queue)
    reset_celery_pools(memory_app)
    memory_app.send_task("fixops.test.noop", queue=queue)
    with memory_app.connection_for_write() as conn:
        assert conn.default_channel.queue_purge(queue) == 2
