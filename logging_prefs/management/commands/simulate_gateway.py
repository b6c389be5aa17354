"""Play the gateway for the demo: post realistic generations for the demo user through the
real gateway API (POST /internal/v1/generations), exactly as the gateway would."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.http.request import validate_host
from django.test import Client, override_settings
from django.utils import timezone

from accounts.actions import do_create_api_key
from accounts.management.commands.load_demo_data import DEMO_USER
from accounts.models import ApiKey, User
from catalog.demo_data import DEMO_ENDPOINTS
from gateway.schemas import MAX_BATCH

GENERATIONS_URL = "/internal/v1/generations"
DAYS = 30

# The demo catalog's models and endpoints (catalog/demo_data.py).
MODELS = DEMO_ENDPOINTS
# How often each model is picked (the big general models carry most traffic).
MODEL_WEIGHTS = [30, 25, 15, 10, 12, 8, 6]

# Each category's usual app (title, url); a call may also come from a general chat app
# or without app attribution (a script, curl).
CATEGORY_APPS: dict[str, tuple[str, str]] = {
    "programming": ("CodeMate", "https://codemate.dev/"),
    "writing": ("Quill Notes", "https://quillnotes.app/"),
    "translation": ("LinguaBridge", "https://linguabridge.io/"),
    "roleplay": ("TavernTales", "https://taverntales.chat/"),
    "marketing": ("AdForge", "https://adforge.co/"),
    "science": ("Research Copilot", "https://research-copilot.org/"),
    "math": ("Homework Helper", "https://homework-helper.school/"),
}
GENERAL_APPS: list[tuple[str, str] | None] = [("OpenChat", "https://openchat.example.com/"), None]

# category -> list of (prompt, completion); {slots} are filled from SLOTS.
CONVERSATIONS: dict[str, list[tuple[str, str]]] = {
    "programming": [
        (
            "Why does this Python function return None?\n\n```python\ndef total(items):\n"
            "    result = 0\n    for item in items:\n        result += item.{field}\n```",
            "It never returns anything: the loop adds to `result` but the function ends "
            "without a `return`, and a Python function without one returns None. Add "
            "`return result` after the loop:\n\n```python\ndef total(items):\n    result = 0\n"
            "    for item in items:\n        result += item.{field}\n    return result\n```",
        ),
        (
            "Write a SQL query that returns the 10 customers with the highest total order "
            "value in {year}, with their email and the total.",
            "```sql\nSELECT c.email, SUM(o.amount) AS total\nFROM customers c\nJOIN orders o "
            "ON o.customer_id = c.id\nWHERE o.created_at >= '{year}-01-01' AND o.created_at < "
            "'{next_year}-01-01'\nGROUP BY c.id, c.email\nORDER BY total DESC\nLIMIT 10;\n```\n"
            "An index on orders (customer_id, created_at) keeps it fast.",
        ),
        (
            "My React component re-renders forever after I added useEffect to fetch "
            "{resource}. What am I doing wrong?",
            "The effect sets state on every run and has no dependency array, so each render "
            "triggers it again. Pass the values it depends on, e.g. `useEffect(() => {{ "
            "load() }}, [{field}Id])`, or `[]` to fetch once on mount.",
        ),
        (
            "Explain the difference between a mutex and a semaphore in Go, with an example "
            "for limiting concurrent {resource} downloads to 5.",
            "A mutex lets one goroutine in at a time; a semaphore lets up to N. In Go a "
            "buffered channel is the idiomatic semaphore:\n\n```go\nsem := make(chan "
            "struct{{}}, 5)\nfor _, url := range urls {{\n    sem <- struct{{}}{{}}\n    go "
            "func(u string) {{ defer func() {{ <-sem }}(); fetch(u) }}(url)\n}}\n```",
        ),
    ],
    "writing": [
        (
            "Help me write a short, warm toast for my {relative}'s 60th birthday. They love "
            "gardening and terrible puns.",
            "Raise your glasses to {relative_cap}, who has spent sixty years proving that you "
            "reap what you sow, and sowing an awful lot of puns. May the years ahead be "
            "evergreen, the tomatoes plentiful, and the jokes only slightly less corny. "
            "Happy birthday!",
        ),
        (
            "Rewrite this paragraph to be clearer and more concise: 'In the event that the "
            "{resource} is not available at the present time, it is recommended that users "
            "make an attempt to try again at a later point in time.'",
            "If the {resource} is unavailable, try again later.",
        ),
        (
            "Give me three opening lines for a mystery novel set in a lighthouse in {place}.",
            "1. The lamp had burned every night for ninety years, until the night it didn't.\n"
            "2. Nobody in {place} swam out to the lighthouse, which is why the wet footprints "
            "on the stairs were so hard to explain.\n3. The keeper's log ended mid-sentence.",
        ),
    ],
    "translation": [
        (
            "Translate into {language}: 'Thank you for your order. Your package will ship "
            "within two business days.'",
            "{translated_order}",
        ),
        (
            "How do you say 'Could you recommend a good restaurant nearby?' in {language}, "
            "politely?",
            "{translated_restaurant}",
        ),
        (
            "Translate this error message into {language} for our app's UI: 'Your session "
            "has expired. Please sign in again.'",
            "{translated_session}",
        ),
    ],
    "roleplay": [
        (
            "You are Captain Mara Voss of the starship Meridian. Stay in character. The "
            "engines just failed near {place}. What do you tell the crew?",
            "*grips the rail as the deck shudders* Listen up. We've lost main propulsion, "
            "not our heads. Engineering, I want a damage report in five minutes. Everyone "
            "else: seal the outer decks and conserve power. We've been in worse. Move.",
        ),
        (
            "Let's play a fantasy adventure. I'm a rogue sneaking into the {place} castle "
            "vault at midnight. Describe what I see.",
            "Moonlight slants through a barred window onto rows of iron-bound chests. A "
            "single torch gutters by the far door, and beneath it a guard snores, a ring "
            "of keys glinting at his belt. Something in the shadows shifts. What do you do?",
        ),
    ],
    "marketing": [
        (
            "Write three subject lines for an email announcing a {percent}% spring sale on "
            "our {product}.",
            "1. Spring into savings: {percent}% off {product}\n2. Fresh season, fresh "
            "deals: {percent}% off ends Sunday\n3. Your {product} upgrade just got "
            "{percent}% cheaper",
        ),
        (
            "Draft a landing page headline and subheadline for a {product} subscription "
            "aimed at busy parents.",
            "Headline: {product_cap}, delivered before you run out.\nSubheadline: Set it "
            "once, skip or pause anytime, and never make an emergency store run again.",
        ),
        (
            "Suggest 5 Instagram post ideas to launch our new {product} brand.",
            "1. Behind the scenes of the first batch\n2. A 'guess the flavour' poll\n3. "
            "Founder story in a 30-second reel\n4. Customer unboxing reposts\n5. A launch-week "
            "giveaway with a local partner",
        ),
    ],
    "science": [
        (
            "Explain photosynthesis to a {age}-year-old.",
            "Plants make their own food using sunlight. Their leaves catch light, drink "
            "water from the roots and breathe in carbon dioxide from the air, and turn them "
            "into sugar, which is their food, and oxygen, which we breathe.",
        ),
        (
            "Why is the sky blue but sunsets are red?",
            "Air molecules scatter short (blue) wavelengths far more than long (red) ones, "
            "so blue light reaches your eyes from all over the sky. At sunset the light "
            "crosses much more air; most blue is scattered away before it arrives, leaving "
            "the reds and oranges.",
        ),
        (
            "What is the difference between mitosis and meiosis? Keep it under {words} words.",
            "Mitosis makes two identical cells with a full set of chromosomes, for growth "
            "and repair. Meiosis makes four cells with half the chromosomes each, all "
            "genetically different: the egg and sperm cells of sexual reproduction.",
        ),
    ],
    "math": [
        (
            "Solve for x: {a}x + {b} = {c}. Show the steps.",
            "Subtract {b} from both sides: {a}x = {c_minus_b}. Divide both sides by {a}: x = {x}.",
        ),
        (
            "What is the derivative of x^{n} * sin(x)?",
            "By the product rule: d/dx [x^{n} sin x] = {n}x^{n_minus_1} sin x + x^{n} cos x.",
        ),
    ],
}
CATEGORY_WEIGHTS = {
    "programming": 30,
    "writing": 15,
    "translation": 12,
    "roleplay": 12,
    "marketing": 10,
    "science": 12,
    "math": 9,
}

TRANSLATIONS = {
    "French": (
        "Merci pour votre commande. Votre colis sera expédié sous deux jours ouvrés.",
        "Pourriez-vous me recommander un bon restaurant à proximité, s'il vous plaît ?",
        "Votre session a expiré. Veuillez vous reconnecter.",
    ),
    "Spanish": (
        "Gracias por su pedido. Su paquete se enviará en un plazo de dos días hábiles.",
        "¿Podría recomendarme un buen restaurante cerca de aquí, por favor?",
        "Su sesión ha caducado. Vuelva a iniciar sesión.",
    ),
    "German": (
        "Vielen Dank für Ihre Bestellung. Ihr Paket wird innerhalb von zwei Werktagen versandt.",
        "Könnten Sie mir bitte ein gutes Restaurant in der Nähe empfehlen?",
        "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.",
    ),
    "Japanese": (
        "ご注文ありがとうございます。商品は2営業日以内に発送いたします。",
        "この近くでおすすめのレストランを教えていただけますか？",
        "セッションの有効期限が切れました。もう一度サインインしてください。",
    ),
}


def _slots(rng: random.Random) -> dict[str, object]:
    language = rng.choice(sorted(TRANSLATIONS))
    order, restaurant, session = TRANSLATIONS[language]
    relative = rng.choice(["dad", "mum", "aunt", "uncle", "grandfather"])
    product = rng.choice(["coffee beans", "running shoes", "houseplants", "dog food"])
    year = rng.randint(2021, 2025)
    a, x, b = rng.randint(2, 9), rng.randint(-10, 20), rng.randint(1, 30)
    n = rng.randint(2, 6)
    return {
        "field": rng.choice(["price", "quantity", "weight"]),
        "year": year,
        "next_year": year + 1,
        "resource": rng.choice(["user profiles", "invoices", "images", "weather data"]),
        "relative": relative,
        "relative_cap": relative.capitalize(),
        "place": rng.choice(["Brittany", "Maine", "the Outer Hebrides", "Tasmania"]),
        "language": language,
        "translated_order": order,
        "translated_restaurant": restaurant,
        "translated_session": session,
        "percent": rng.choice([10, 15, 20, 25, 30]),
        "product": product,
        "product_cap": product.capitalize(),
        "age": rng.randint(5, 10),
        "words": rng.choice([50, 80, 100]),
        "a": a,
        "b": b,
        "c": a * x + b,
        "c_minus_b": a * x,
        "x": x,
        "n": n,
        "n_minus_1": n - 1,
    }


def _cost(prompt_tokens: int, completion_tokens: int, price_in: str, price_out: str) -> str:
    cost = (
        Decimal(prompt_tokens) * Decimal(price_in) + Decimal(completion_tokens) * Decimal(price_out)
    ) / Decimal(1_000_000)
    return str(cost.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP))


def make_generation(rng: random.Random, key_id: int, now: dt.datetime) -> dict:
    """One generation record as the gateway posts it (gateway.schemas)."""
    model = rng.choices(list(MODELS), weights=MODEL_WEIGHTS)[0]
    provider, price_in, price_out = rng.choice(MODELS[model])
    category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
    prompt_template, completion_template = rng.choice(CONVERSATIONS[category])
    slots = _slots(rng)
    prompt = prompt_template.format(**slots)
    completion = completion_template.format(**slots)
    # Tokens: roughly 4 characters each, plus a system prompt and earlier turns.
    prompt_tokens = len(prompt) // 4 + rng.choice([12, 40, 180, 650, 2400])
    completion_tokens = max(1, len(completion) // 4 + rng.randint(-5, 60))
    app = CATEGORY_APPS[category] if rng.random() < 0.7 else rng.choice(GENERAL_APPS)
    created_at = now - dt.timedelta(seconds=rng.uniform(60, DAYS * 24 * 3600))
    return {
        "id": f"gen-{uuid.uuid4().hex}",
        "key_id": key_id,
        "model": model,
        "provider": provider,
        "app_title": app[0] if app else None,
        "app_url": app[1] if app else None,
        "prompt": prompt,
        "completion": completion,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": _cost(prompt_tokens, completion_tokens, price_in, price_out),
        "created_at": created_at.isoformat(),
    }


class Command(BaseCommand):
    help = (
        "Post realistic generations for the demo user (demo@portal.localhost) through the "
        "gateway API, as the gateway would: varied models, providers, apps, token counts, "
        "costs and prompts over the last 30 days. Creates a 'Demo app' API key when the "
        "demo user has no active key. Uses PORTAL_GATEWAY_TOKEN; when it is empty, a "
        "temporary token is set for the duration of the command only. Run "
        "load_demo_data first."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--count", type=int, default=200, help="How many generations to post (200)."
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="Random seed, for a repeatable mix."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Post nothing when the demo user already has generations (make run).",
        )

    def handle(
        self, *args, count: int, seed: int | None, if_empty: bool = False, **options
    ) -> None:
        if count < 1:
            raise CommandError("--count must be at least 1.")
        user = User.objects.filter(email=DEMO_USER[0]).first()
        if user is None:
            raise CommandError(f"No demo user {DEMO_USER[0]}: run `manage.py load_demo_data`.")
        if if_empty and user.generations.exists():
            self.stdout.write(f"{user.email} already has generations: nothing posted.")
            return
        keys = list(ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("id"))
        if not keys:
            api_key, _raw = do_create_api_key(user=user, acting_user=user, name="Demo app")
            keys = [api_key]
            self.stdout.write(f"Created the API key '{api_key.name}' ({api_key.prefix}…).")

        token = settings.PORTAL_GATEWAY_TOKEN
        overrides = {}
        if not token:
            token = secrets.token_urlsafe(32)
            overrides["PORTAL_GATEWAY_TOKEN"] = token
            self.stdout.write("PORTAL_GATEWAY_TOKEN is empty: using a temporary token.")
        rng = random.Random(seed)
        now = timezone.now()
        records = [make_generation(rng, rng.choice(keys).pk, now) for _ in range(count)]

        with override_settings(**overrides):
            client = Client(
                HTTP_HOST=_host(),
                HTTP_AUTHORIZATION=f"Bearer {token}",
                raise_request_exception=True,
            )
            totals = {"stored": 0, "with_text": 0, "duplicates": 0, "rejected": 0}
            for start in range(0, len(records), MAX_BATCH):
                batch = records[start : start + MAX_BATCH]
                response = client.post(
                    GENERATIONS_URL,
                    {"generations": batch},
                    content_type="application/json",
                    secure=True,  # as behind TLS, so SECURE_SSL_REDIRECT does not apply
                )
                if response.status_code != 200:
                    raise CommandError(
                        f"The gateway API answered {response.status_code}: "
                        f"{response.content.decode(errors='replace')[:500]}"
                    )
                answer = response.json()
                for name in ("stored", "with_text", "duplicates"):
                    totals[name] += answer[name]
                totals["rejected"] += len(answer["rejected"])
                for rejection in answer["rejected"][:5]:
                    self.stderr.write(
                        f"rejected #{start + rejection['index']}: {rejection['error']}"
                    )

        self.stdout.write(
            self.style.SUCCESS(
                f"Posted {count} generations for {user.email} through POST {GENERATIONS_URL}: "
                f"stored {totals['stored']} ({totals['with_text']} with prompt text), "
                f"duplicates {totals['duplicates']}, rejected {totals['rejected']}."
            )
        )


def _host() -> str:
    """localhost, unless the settings do not serve it (production): then the first
    host they do serve."""
    if validate_host("localhost", settings.ALLOWED_HOSTS):
        return "localhost"
    for host in settings.ALLOWED_HOSTS:
        if host and "*" not in host and not host.startswith("."):
            return host
    return "localhost"
