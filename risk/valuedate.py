"""Risk follows the credit engine when back-valued money re-judges an account's past days (PRODUCT §13,
issue 24 item 2). Registered in ``risk.wiring`` as a listener of
:func:`installments.hooks.notify_delinquency_rejudged`, in the engine's transaction (the account row is
locked by it):

- a limit cut of rule ``overdue`` made on or after the re-judged date is **undone** when the corrected
  bucket history shows the account was not past due on the review's day nor since the review before it:
  the limit goes back up by what the cut took (a system change with the reason), the review is marked
  undone, and the cut's notice is withdrawn if it was not sent yet;
The credit bureau withdraws its own pre-notice (``bureau.services.pre_notice_follow_rejudged``). The automatic freeze, collection case and reminders are corrected by the engine and collections.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import Q

from accounts.models import BucketChange, CreditAccount, LimitChange
from core.actors import Actor
from core.audit import audit_record
from installments.hooks import RejudgedAccount

LISTENER = "risk.follow_rejudged"
RULE = "risk.limit_cut_undone"


def _delinquent_on(account_id: int, day: dt.date) -> bool:
    """Past due at the close of ``day`` by the (corrected) bucket history."""
    last = BucketChange.objects.filter(account_id=account_id, on_date__lte=day).order_by("-on_date", "-id").first()
    return last is not None and last.new_bucket != CreditAccount.Bucket.M0


def _delinquent_between(account_id: int, start: dt.date, end: dt.date) -> bool:
    return BucketChange.objects.filter(account_id=account_id, on_date__gt=start, on_date__lte=end).filter(
        ~Q(new_bucket=CreditAccount.Bucket.M0) | ~Q(old_bucket=CreditAccount.Bucket.M0)).exists()


def follow_rejudged(event: RejudgedAccount) -> None:
    from accounts.services import account_change_fixed_limit
    from notices.models import NoticeKind
    from notices.services import notices_withdraw
    from risk.models import LimitReview
    from risk.selectors import risk_policy

    actor = Actor.system(RULE)
    account = CreditAccount.objects.get(pk=event.account_id)
    policy = risk_policy()
    cuts = LimitReview.objects.filter(account_id=account.pk, action=LimitReview.Action.CUT, rule="overdue",
                                      reviewed_on__gte=event.since, undone_on__isnull=True).order_by("reviewed_on", "pk")
    for review in cuts:
        previous = (LimitReview.objects.filter(account_id=account.pk, reviewed_on__lt=review.reviewed_on)
                    .order_by("-reviewed_on").values_list("reviewed_on", flat=True).first())
        since = max(previous or account.opened_on, review.reviewed_on - dt.timedelta(days=policy.review_every_days))
        if _delinquent_on(account.pk, review.reviewed_on) or _delinquent_between(account.pk, since, review.reviewed_on):
            continue  # still caused by a delinquency the money did not erase
        why = (f"limit cut of {review.reviewed_on} undone: money value-dated on or after {event.since} shows the "
               f"account was not past due")
        account.refresh_from_db()
        account_change_fixed_limit(account=account, new_limit=account.fixed_limit + review.old_limit - review.new_limit,
                                   actor=actor, reason=why)
        review.undone_on, review.undone_because = event.on, why[:300]
        review.save(update_fields=["undone_on", "undone_because"])
        audit_record(actor=actor, action="limit_cut_undo", obj=review, reason=why,
                     old=str(review.new_limit), new=str(review.old_limit))
        change = (LimitChange.objects.filter(account_id=account.pk, kind=LimitChange.Kind.FIXED,
                                             old_limit=review.old_limit, new_limit=review.new_limit,
                                             actor_rule__startswith="limit_review:overdue").order_by("-pk").first())
        if change is not None:
            notices_withdraw(account_id=account.pk, kind=NoticeKind.LIMIT_CUT, event_keys=[f"limit-change:{change.pk}"],
                             reason=why, actor=actor)


def register_listener() -> None:
    from installments.hooks import register_rejudge_listener

    register_rejudge_listener(LISTENER, follow_rejudged)
