"""Seed the three starting credit packs (editable in the admin afterwards)."""

from django.db import migrations

PACKS = [
    # name, credits, price in cents (USD), sort order
    ("Starter", 100, 500, 10),
    ("Standard", 500, 1900, 20),
    ("Studio", 2000, 5900, 30),
]


def seed(apps, schema_editor):
    CreditPack = apps.get_model("billing", "CreditPack")
    for name, credits, price, order in PACKS:
        CreditPack.objects.get_or_create(
            credits=credits,
            currency="usd",
            defaults={"name": name, "price": price, "sort_order": order, "active": True},
        )


def unseed(apps, schema_editor):
    CreditPack = apps.get_model("billing", "CreditPack")
    Payment = apps.get_model("billing", "Payment")
    for name, credits, price, _order in PACKS:
        for pack in CreditPack.objects.filter(name=name, credits=credits, price=price):
            if not Payment.objects.filter(pack=pack).exists():
                pack.delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
