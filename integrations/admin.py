"""Operator console for API clients: create clients, issue tokens (the secret is shown once, on the
page that issued it, and never stored), revoke tokens and clients. Every write calls a service."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.actors import Actor
from core.admin_refusals import RefusalOnFormMixin
from core.admin_utils import ReasonForm, form_action
from core.errors import ApplicationError
from integrations import services
from integrations.models import ApiClient, ApiScopeGrant, ApiToken, IdempotencyRecord
from integrations.scope_controls import MONEY_MOVING_SCOPES, is_money_moving
from integrations.scopes import scope_choices
from integrations.selectors import scopes_awaiting_approval
from django.utils.translation import gettext_lazy as _


MONEY_NOTE = _("money-moving: a second person approves")


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple, required=False, label=_("Scopes"))

    reason = forms.CharField(
        max_length=500, required=False, label=_("Reason"), widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("Required when you ask for a money-moving scope: it waits for a second person's approval."),
    )

    class Meta:
        model = ApiClient
        fields = ("name", "description", "scopes", "throttle_rate")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A read-only page (view permission only) has neither field: every field is read-only there.
        if "scopes" in self.fields:
            self.fields["scopes"].choices = [
                (code, f"{label} ({MONEY_NOTE})" if is_money_moving(code) else label)
                for code, label in scope_choices()
            ]
            if self.instance.pk:  # what is asked for: the scopes in force and those waiting for approval
                self.initial["scopes"] = sorted({*(self.instance.scopes or []), *scopes_awaiting_approval(
                    client=self.instance, scopes=list(MONEY_MOVING_SCOPES))})
        if self.instance.pk and "name" in self.fields:
            self.fields["name"].disabled = True

    def clean(self):
        data = super().clean()
        asked = [s for s in data.get("scopes") or () if is_money_moving(s)]
        held = set(self.initial.get("scopes") or []) if self.instance.pk else set()  # in force or waiting already
        if [s for s in asked if s not in held] and not (data.get("reason") or "").strip():
            self.add_error("reason", _("A reason is required to ask for a money-moving scope."))
        return data

    def clean_throttle_rate(self):
        try:
            return services.clean_rate(self.cleaned_data["throttle_rate"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None


class IssueTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text=_("What this token is for, e.g. 'prod web'."), label=_("Name"))
    expires_at = forms.DateTimeField(required=False, help_text=_("Blank = until revoked."), label=_("Expires at"))


class ScopeGrantInline(admin.TabularInline):
    model = ApiScopeGrant
    extra = 0
    can_delete = False
    verbose_name = _("money-moving scope")
    verbose_name_plural = _("money-moving scopes (four eyes)")
    fields = ("scope", "status", "requested_by", "reason", "approval_reference", "approved_by", "approved_at",
              "ended_by", "ended_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    can_delete = False
    fields = ("prefix", "name", "created_at", "created_by", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiClient)
class ApiClientAdmin(RefusalOnFormMixin, admin.ModelAdmin):
    form = ApiClientForm
    list_display = ("name", "reference", "scopes_display", "is_active", "live_tokens", "throttle_rate", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "=reference")
    list_select_related = ("user",)
    readonly_fields = ("reference", "user", "is_active", "revoked_at", "created_at", "issue_token_link")
    inlines = (ScopeGrantInline, TokenInline)
    actions = ("revoke_clients",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            live_token_count=Count("tokens", filter=Q(tokens__revoked_at__isnull=True))
        )

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else ()

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "description", "scopes", "reason", "throttle_rate")
        return ("name", "reference", "user", "description", "scopes", "reason", "throttle_rate", "is_active",
                "revoked_at", "created_at", "issue_token_link")

    @admin.display(description=_("Scopes"))
    def scopes_display(self, obj):
        return ", ".join(obj.scopes or []) or "—"

    @admin.display(description=_("Live tokens"), ordering="live_token_count")
    def live_tokens(self, obj):
        return obj.live_token_count

    @admin.display(description=_("Tokens"))
    def issue_token_link(self, obj):
        if obj is None or not obj.pk or not obj.is_active:
            return "—"
        url = reverse("admin:integrations_apiclient_issue_token", args=[obj.pk])
        return format_html('<a class="button" href="{}">Issue a new token</a>', url)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: log rows point at the client's user

    def save_model(self, request, obj, form, change):
        actor = Actor.staff(request.user)
        data = form.cleaned_data
        if change:
            saved = services.api_client_update(
                client=obj, actor=actor, scopes=data["scopes"], description=data["description"],
                throttle_rate=data["throttle_rate"], reason=data.get("reason", ""),
            )
        else:
            saved = services.api_client_create(
                name=data["name"], scopes=data["scopes"], description=data["description"],
                throttle_rate=data["throttle_rate"], actor=actor, reason=data.get("reason", ""),
            )
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})
        for grant in ApiScopeGrant.objects.filter(client=saved, status=ApiScopeGrant.Status.PENDING).order_by("scope"):
            self.message_user(request, _("%(scope)s waits for a second person's approval (request %(ref)s); until "
                                         "then the client works without it.") % {
                "scope": grant.scope, "ref": grant.approval_reference}, messages.WARNING)

    def save_related(self, request, form, formsets, change):
        # Tokens are issued by the dedicated view and scopes granted by the approvals, never through the
        # read-only inlines; the change message still reads what each formset saved (nothing).
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def get_urls(self):
        return [
            path(
                "<int:pk>/issue-token/",
                self.admin_site.admin_view(self.issue_token_view),
                name="integrations_apiclient_issue_token",
            ),
            *super().get_urls(),
        ]

    def issue_token_view(self, request, pk):
        client = get_object_or_404(ApiClient, pk=pk)
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "client": client}
        if request.method == "POST":
            form = IssueTokenForm(request.POST)
            if form.is_valid():
                try:
                    token, raw = services.api_token_issue(
                        client=client, actor=Actor.staff(request.user), name=form.cleaned_data["name"],
                        expires_at=form.cleaned_data["expires_at"],
                    )
                except ApplicationError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                    return redirect("admin:integrations_apiclient_change", client.pk)
                context.update(title=f"Token issued for {client}", token=token, raw_token=raw)
                response = TemplateResponse(request, "admin/integrations/token_issued.html", context)
                response["Cache-Control"] = "no-store"
                return response
        else:
            form = IssueTokenForm()
        context.update(title=f"Issue a token for {client}", form=form)
        return TemplateResponse(request, "admin/integrations/issue_token.html", context)

    @form_action(ReasonForm, description=_("Revoke selected clients (and all their tokens)"), permissions=["change"],
                 submit_label=_("Revoke"))
    def revoke_clients(self, request, obj, data):
        services.api_client_revoke(client=obj, actor=Actor.staff(request.user), reason=data["reason"])


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "client", "name", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("client",)
    search_fields = ("=prefix", "client__name", "name")
    readonly_fields = ("client", "prefix", "name", "created_at", "created_by", "last_used_at", "expires_at",
                       "revoked_at", "revoked_by", "rotate_link")
    actions = ("revoke_tokens",)

    @admin.display(description=_("Rotate"))
    def rotate_link(self, obj):
        if obj is None or not obj.pk or obj.revoked_at is not None:
            return "—"
        url = reverse("admin:integrations_apitoken_rotate", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Replace by a new token"))

    def get_urls(self):
        return [
            path("<int:pk>/rotate/", self.admin_site.admin_view(self.rotate_view), name="integrations_apitoken_rotate"),
            *super().get_urls(),
        ]

    def rotate_view(self, request, pk):
        """Replace a live token by a new one: the old one stops at once; the new secret is shown once."""
        token = get_object_or_404(ApiToken, pk=pk)
        if not self.has_change_permission(request, token):
            raise PermissionDenied
        client = token.client
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "client": client}
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                new, raw = services.api_token_rotate(token=token, actor=Actor.staff(request.user),
                                                     reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return redirect("admin:integrations_apitoken_change", token.pk)
            context.update(title=_("Token %(prefix)s… replaced") % {"prefix": token.prefix}, token=new, raw_token=raw)
            response = TemplateResponse(request, "admin/integrations/token_issued.html", context)
            response["Cache-Control"] = "no-store"
            return response
        context.update(title=_("Replace token %(prefix)s… of %(client)s") % {"prefix": token.prefix, "client": client},
                       form=form)
        return TemplateResponse(request, "admin/integrations/issue_token.html", context)

    def has_add_permission(self, request):
        return False  # issued from the client's page, where the secret is shown once

    def has_delete_permission(self, request, obj=None):
        return False

    @form_action(ReasonForm, description=_("Revoke selected tokens"), permissions=["change"], submit_label=_("Revoke"))
    def revoke_tokens(self, request, obj, data):
        services.api_token_revoke(token=obj, actor=Actor.staff(request.user), reason=data["reason"])


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    """Read-only: what each key answered (the stored bodies are not shown)."""

    list_display = ("key", "owner", "method", "path", "status", "response_status", "created_at", "expires_at")
    list_filter = ("status", "method")
    search_fields = ("=key", "=owner")
    fields = ("owner", "key", "method", "path", "fingerprint", "status", "response_status", "locked_at",
              "created_at", "completed_at", "expires_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
