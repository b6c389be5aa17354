from django.contrib import admin

from catalog.models import Endpoint, LanguageModel, Provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "policy_url")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class EndpointInline(admin.TabularInline):
    model = Endpoint
    extra = 0
    autocomplete_fields = ("provider",)


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = ("__str__", "name")
    search_fields = ("author", "slug", "name")
    inlines = (EndpointInline,)


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "provider",
        "input_price",
        "output_price",
        "trains_on_prompts",
        "retains_prompts",
        "publishes_prompts",
        "region",
    )
    list_filter = (
        "region",
        "trains_on_prompts",
        "retains_prompts",
        "publishes_prompts",
        "provider",
    )
    list_select_related = ("model", "provider")
    search_fields = ("model__author", "model__slug", "provider__name")
    autocomplete_fields = ("model", "provider")
