from datetime import UTC, datetime

import pytest

from serve_app.db.session import Database
from serve_app.services.accounting import Accounting
from tests.factories import ManualClock, make_config


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def accounting(db: Database, clock: ManualClock) -> Accounting:
    return Accounting(db=db, config=make_config(), clock=clock)
