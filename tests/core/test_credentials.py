import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.exceptions import FieldError
from django.core.management import call_command

from commerce_sync.core.models import Connection
from commerce_sync.core.services.credentials import credential_rotate
from connectors.credentials import CredentialsUnreadable, decrypt_json, encrypt_json, reencrypt
from tests.conftest import KEY_A, KEY_B
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

SECRET = "sq0atp-very-secret-access-token"


def test_round_trip_through_the_database():
    connection = ConnectionFactory(credentials={"access_token": SECRET, "expires_in": 3600})
    assert Connection.objects.get(pk=connection.pk).credentials == {
        "access_token": SECRET,
        "expires_in": 3600,
    }


def test_raw_column_holds_a_fernet_token_not_the_plaintext(raw_credentials):
    connection = ConnectionFactory(credentials={"access_token": SECRET})
    raw = raw_credentials(connection.pk)
    assert SECRET not in raw
    assert "access_token" not in raw
    assert json.loads(Fernet(KEY_A).decrypt(raw.encode())) == {"access_token": SECRET}


def test_serialisation_carries_ciphertext_only():
    connection = ConnectionFactory(credentials={"access_token": SECRET})
    dumped = serializers.serialize("json", [connection])
    assert SECRET not in dumped
    restored = next(serializers.deserialize("json", dumped)).object
    assert restored.credentials == {"access_token": SECRET}


def test_lookups_on_ciphertext_are_refused():
    with pytest.raises(FieldError):
        Connection.objects.filter(credentials={"access_token": SECRET}).exists()
    assert not Connection.objects.filter(credentials__isnull=True).exists()


def test_first_key_encrypts_and_every_key_decrypts(use_keys):
    use_keys(KEY_A)
    token = encrypt_json({"a": 1})
    use_keys(KEY_B, KEY_A)
    assert decrypt_json(token) == {"a": 1}
    assert json.loads(Fernet(KEY_B).decrypt(encrypt_json({"b": 2}).encode())) == {"b": 2}
    use_keys(KEY_B)
    with pytest.raises(CredentialsUnreadable):
        decrypt_json(token)


def test_reencrypt_moves_a_token_to_the_newest_key(use_keys):
    use_keys(KEY_A)
    token = encrypt_json({"a": 1})
    use_keys(KEY_B, KEY_A)
    rotated = reencrypt(token)
    use_keys(KEY_B)
    assert decrypt_json(rotated) == {"a": 1}


def test_rotation_end_to_end(use_keys, raw_credentials):
    use_keys(KEY_A)
    connections = ConnectionFactory.create_batch(3)
    expected = {c.pk: c.credentials for c in connections}

    use_keys(KEY_B, KEY_A)
    assert credential_rotate() == 3

    use_keys(KEY_B)
    for connection in Connection.objects.all():
        assert connection.credentials == expected[connection.pk]
        Fernet(KEY_B).decrypt(raw_credentials(connection.pk).encode())  # no InvalidToken


def test_rotation_leaves_other_columns_alone(use_keys):
    use_keys(KEY_A)
    connection = ConnectionFactory(settings={"orders_per_day": 7}, last_error="boom")
    before = Connection.objects.filter(pk=connection.pk).values("updated_at", "settings").get()
    use_keys(KEY_B, KEY_A)
    credential_rotate()
    after = Connection.objects.filter(pk=connection.pk).values("updated_at", "settings").get()
    assert after == before


def test_rotate_credentials_command(use_keys):
    use_keys(KEY_A)
    connection = ConnectionFactory()
    use_keys(KEY_B, KEY_A)
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "1 connection" in out.getvalue()
    use_keys(KEY_B)
    connection.refresh_from_db()
    assert connection.credentials["access_token"].startswith("tok-")


def test_unreadable_token_fails_loudly(use_keys):
    use_keys(KEY_A)
    connection = ConnectionFactory()
    use_keys(KEY_B)
    with pytest.raises(CredentialsUnreadable):
        Connection.objects.get(pk=connection.pk)
    # The rest of the row stays readable for support.
    assert Connection.objects.defer("credentials").get(pk=connection.pk).status == "Linked"
