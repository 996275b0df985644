"""Users: who a signed-in person is (an OpenID Connect issuer and subject) and the id that
owns what they make."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.users.identities import Identity, email_if_verified, identify, identity_of
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
