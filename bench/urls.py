from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def trivial(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/trivial", trivial),
    path("", include("portal.urls")),
]
