from django import template

from accounts.selectors import account_sections as _account_sections

register = template.Library()


@register.simple_tag(takes_context=True)
def account_sections(context):
    return _account_sections(user=context["request"].user)


@register.filter
def is_within(path: str, section_url: str) -> bool:
    """True on a section's page and on the pages under it (/account/keys/3/ is in
    "API keys"), so the account navigation marks where the user is."""
    return path.startswith(section_url)
