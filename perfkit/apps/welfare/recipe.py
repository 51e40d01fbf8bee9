"""The sample application's data recipe: perfkit's entities mapped onto its five tables.

The sample's tables are the plan's, so the mapping is nearly one to one: each office, staff
member, recipient, plan and cycle entity (:mod:`perfkit.datagen.entities`) becomes one row,
every row is marked as test data, and only the cycles' start and end dates move with the
calendar (``date_of_birth`` stays: recipients age by a shift, which the batch never looks at;
``created_at`` keeps the time the rows were made).
"""

from __future__ import annotations

from perfkit.datagen.recipe import Const, Recipe, TableRecipe

#: Bump whenever a change here changes the rows a seed makes.
GENERATOR_VERSION = 1
#: Every generated row is marked as test data.
IS_TEST_DATA = Const(True)

#: The recipe the sample application hands perfkit, tables parents first.
RECIPE = Recipe(
    version=GENERATOR_VERSION,
    tables=(
        TableRecipe(
            "offices",
            "office",
            {
                "id": "id",
                "name": "name",
                "address": "address",
                "phone_number": "phone_number",
                "is_test_data": IS_TEST_DATA,
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "staffs",
            "staff",
            {
                "id": "id",
                "office_id": "office_id",
                "first_name": "first_name",
                "last_name": "last_name",
                "full_name": "full_name",
                "email": "email",
                "hashed_password": "hashed_password",
                "role": "role",
                "notification_preferences": "notification_preferences",
                "is_test_data": IS_TEST_DATA,
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "welfare_recipients",
            "recipient",
            {
                "id": "id",
                "office_id": "office_id",
                "first_name": "first_name",
                "last_name": "last_name",
                "full_name": "full_name",
                "date_of_birth": "date_of_birth",
                "is_test_data": IS_TEST_DATA,
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "individual_support_plans",
            "plan",
            {
                "id": "id",
                "office_id": "office_id",
                "welfare_recipient_id": "recipient_id",
                "responsible_staff_id": "responsible_staff_id",
                "is_test_data": IS_TEST_DATA,
                "created_at": "created_at",
            },
        ),
        TableRecipe(
            "support_plan_cycles",
            "cycle",
            {
                "id": "id",
                "individual_support_plan_id": "plan_id",
                "cycle_number": "cycle_number",
                "start_date": "start_date",
                "end_date": "end_date",
                "status": "status",
                "is_test_data": IS_TEST_DATA,
                "created_at": "created_at",
            },
        ),
    ),
    dated_columns={"support_plan_cycles": ("start_date", "end_date")},
)
