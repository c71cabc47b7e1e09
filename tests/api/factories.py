import factory

from api.models import ApiToken
from tests.scheduler.factories import UserFactory


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A token whose key (``key``, never stored) is known to the test."""

    class Meta:
        model = ApiToken
        exclude = ["key"]

    key = factory.Sequence(lambda n: f"test-api-key-{n:030d}")
    user = factory.SubFactory(UserFactory)
    prefix = factory.LazyAttribute(lambda token: token.key[:8])
    key_hash = factory.LazyAttribute(lambda token: ApiToken.hash_key(token.key))
