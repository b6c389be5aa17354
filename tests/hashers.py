from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with small costs so the suite signs in hundreds of times quickly. The
    algorithm is the same; production's costs are Django's defaults (a test checks
    that production settings use Django's own Argon2 hasher first)."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1
