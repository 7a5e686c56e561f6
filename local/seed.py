"""Demo data for `make dev`: a small catalog, three users of the stack's Cognito user pool (alice,
bob, carol) and billing accounts for two of them (carol has none, so she is declined). An account is
keyed by the user's `sub`, the id the API sees; the user pool assigns it.

Each product also gets its entry in the order side's product view (OrdersTable), as a migration would
backfill it: afterwards only ProductUpdated events (catalog-api -> sync-product) change that view.

Item shapes follow ARCHITECTURE.md. An item that already exists is left alone, so running this again
never resets stock that live orders hold. Tables and endpoint come from the stack's env file.
"""

import os
from datetime import datetime, timezone

import boto3

import signin

PRODUCTS = [  # sku, name, price (minor units), currency, available
    ("SKU-TSHIRT", "T-shirt", 1999, "EUR", 100),
    ("SKU-MUG", "Mug", 1299, "EUR", 50),
    ("SKU-POSTER", "Poster", 999, "EUR", 3),
    ("SKU-HOODIE", "Hoodie (sold out)", 4999, "EUR", 0),
]
ACCOUNTS = [  # user, balance (minor units), currency
    ("alice", 50000, "EUR"),
    ("bob", 2000, "EUR"),
]


def put_new(dynamodb, table, item):
    try:
        dynamodb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return "created"
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return "exists"


def product_fields(sku, name, price, currency):
    """What the catalog's item (InventoryTable) and the order side's view (OrdersTable) share."""
    return {
        "pk": {"S": f"PRODUCT#{sku}"},
        "sk": {"S": "PRODUCT"},
        "sku": {"S": sku},
        "name": {"S": name},
        "price": {"N": str(price)},
        "currency": {"S": currency},
    }


def main():
    dynamodb = boto3.client("dynamodb")  # endpoint, region and credentials from the env file
    for sku, name, price, currency, available in PRODUCTS:
        item = {
            **product_fields(sku, name, price, currency),
            "available": {"N": str(available)},
            "reserved": {"N": "0"},
            "version": {"N": "1"},
            # The catalog index (BySku) that GET /products pages through.
            "gsi1pk": {"S": "PRODUCT"},
            "gsi1sk": {"S": sku},
        }
        outcome = put_new(dynamodb, os.environ["INVENTORY_TABLE"], item)
        print(f"  product {sku:<11} {price:>5} {currency}  stock {available:>3}  {outcome}")
        view = {
            **product_fields(sku, name, price, currency),
            "productVersion": {"N": "1"},
            "updatedAt": {"S": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
        }
        print(f"  product view {sku:<6} {put_new(dynamodb, os.environ['ORDERS_TABLE'], view)}")
    cognito = signin.cognito()
    pool, app = os.environ["COGNITO_USER_POOL_ID"], os.environ["COGNITO_CLIENT_ID"]
    subs = {user: signin.sign_in(cognito, pool, app, user)["sub"] for user in ("alice", "bob", "carol")}
    signin.sign_in(cognito, pool, app, "admin", ["admin"])
    for user, balance, currency in ACCOUNTS:
        # The API knows alice by her sub; the sample events in events/ call her "alice".
        for user_id in (subs[user], user):
            item = {
                "pk": {"S": f"ACCOUNT#{user_id}"},
                "sk": {"S": "ACCOUNT"},
                "userId": {"S": user_id},
                "balance": {"N": str(balance)},
                "currency": {"S": currency},
            }
            outcome = put_new(dynamodb, os.environ["BILLING_TABLE"], item)
            print(f"  account {user:<11} {balance:>5} {currency}  {outcome} (user id {user_id})")
    print(f"  account carol       none (her orders are declined; user id {subs['carol']})")
    print("  user admin          in the admin group")


if __name__ == "__main__":
    main()
