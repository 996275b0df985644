"""Users: who a signed-in person is (an OpenID Connect issuer and subject) and the id that
owns what they make."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.users.identities": ("Identity", "email_if_verified", "identify", "identity_of"),
})
