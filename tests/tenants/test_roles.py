"""The role order every permission check relies on."""

from __future__ import annotations

import pytest

from apps.tenants.roles import Role, role_at_least

ORDER = [Role.VIEWER, Role.ANALYST, Role.APPROVER, Role.ADMIN]


@pytest.mark.parametrize("role", ORDER)
@pytest.mark.parametrize("minimum", ORDER)
def test_each_role_includes_the_roles_below_it(role, minimum):
    expected = ORDER.index(role) >= ORDER.index(minimum)
    assert role_at_least(role, minimum) is expected
    assert role_at_least(str(role.value), str(minimum.value)) is expected  # as stored


@pytest.mark.parametrize(("role", "minimum"), [("owner", "viewer"), ("admin", ""), (None, "admin")])
def test_a_value_that_is_no_role_is_refused(role, minimum):
    with pytest.raises(ValueError):
        role_at_least(role, minimum)
