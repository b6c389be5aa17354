"""`manage.py load_demo_data` creates accounts whose passwords are published (README):
it runs in development only."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.management.commands.load_demo_data import DEMO_SUPPORT, DEMO_USER
from accounts.models import User
from catalog.models import LanguageModel

pytestmark = pytest.mark.django_db


def test_demo_data_refuses_to_load_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only in development"):
        call_command("load_demo_data", stdout=io.StringIO())
    assert not User.objects.filter(email__in=[DEMO_USER[0], DEMO_SUPPORT[0]]).exists()
    assert not LanguageModel.objects.exists()


def test_demo_data_loads_in_development(settings):
    settings.DEBUG = True
    call_command("load_demo_data", stdout=io.StringIO())
    assert User.objects.filter(email__in=[DEMO_USER[0], DEMO_SUPPORT[0]]).count() == 2
