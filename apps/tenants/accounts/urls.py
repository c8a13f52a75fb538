from django.urls import path

from apps.tenants.accounts import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/otp/", views.otp_view, name="login-otp"),
    path("login/enrol/", views.enrol_view, name="login-enrol"),
    path("recovery-codes/", views.recovery_codes_view, name="recovery-codes"),
    path("logout/", views.logout_view, name="logout"),
    path("tenant/", views.tenant_switch_view, name="tenant-switch"),
    path("oidc/<slug:slug>/login/", views.oidc_login_view, name="oidc-login"),
    path("oidc/<slug:slug>/callback/", views.oidc_callback_view, name="oidc-callback"),
]
