from django import template

from accounts.selectors import account_sections as _account_sections

register = template.Library()


@register.simple_tag(takes_context=True)
def account_sections(context):
    return _account_sections(user=context["request"].user)
