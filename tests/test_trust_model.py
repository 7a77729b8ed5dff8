# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Invariant 4, "the server decides", against every user (README, Trust model).

Each attempt is made the way a browser console or a crafted till would make it:
plain ORM calls (``write``, ``create``, ``copy``, ``unlink``, ``search_read``) and the
till's own RPCs, as a cashier, a POS manager, an internal user without Point of
Sale rights, a portal user and a cashier of another company. Each must be refused
with words and leave the order and CRM.COM (the simulator, after the sender ran)
as they were. The honest flows are the positive controls."""

from decimal import Decimal

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..crmcom import read_participant, rewards_participant_identifier
from ..models.trust import in_flow
from .common import ALICE, BOB, CrmcomPosCase, TillCalls

SPEND = "customer_events/spend_requests/create"
CANCEL = "customer_events/purchases/cancel"
SHOW = "rewards_participants/show"


@tagged("post_install", "-at_install")
class TestCrmcomTrustModel(CrmcomPosCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "CRM.COM trust company B"})
        both = [Command.set((cls.company | cls.company_b).ids)]

        def user(login, groups, company=cls.company, companies=None):
            return new_test_user(
                cls.env(su=True),
                login=login,
                groups=groups,
                company_id=company.id,
                company_ids=companies or both,
            )

        # Contact creation for all: the refusals below are this addon's, not Odoo's.
        staff = "base.group_user,base.group_partner_manager"
        cls.cashier = user("trust_cashier", f"{staff},point_of_sale.group_pos_user")
        cls.manager = user("trust_manager", f"{staff},point_of_sale.group_pos_manager")
        cls.admin = user(
            "trust_admin", f"{staff},base.group_system,point_of_sale.group_pos_manager"
        )
        cls.internal = user("trust_internal", staff)
        cls.portal = user("trust_portal", "base.group_portal")
        cls.other_cashier = user(
            "trust_other_cashier",
            "base.group_user,point_of_sale.group_pos_user",
            company=cls.company_b,
            companies=[Command.set(cls.company_b.ids)],
        )
        cls.everyone = (
            cls.cashier | cls.manager | cls.admin | cls.internal | cls.portal | cls.other_cashier
        )
        # Users whom Odoo lets write orders: refused by this addon's own words.
        cls.order_writers = cls.cashier | cls.manager | cls.admin
        cls.not_managers = cls.everyone - cls.manager - cls.admin
        cls.redemption = cls.env.ref("pos_crmcom_rewards.product_crmcom_redemption")

    # ------------------------------------------------------------------ helpers

    def rewards(self, user=None):
        return TillCalls(self.env(user=user) if user else self.env)

    def draft(self, lines, customer=None):
        data = self.create_ui_order_data(lines, customer=customer or self.alice)
        data.update(state="draft", payment_ids=[], amount_paid=0)
        result = self.env["pos.order"].sync_from_ui([data])
        return self.env["pos.order"].browse(result["pos.order"][0]["id"])

    def spent_draft(self, amount):
        """Five coffees (20.00) with ``amount`` spent at the till: a locked draft."""
        order = self.draft([(self.coffee, 5)])
        answer = self.rewards().spend_order(self.config.id, order.uuid, amount)
        self.assertTrue(answer["ok"], answer)
        return order

    def pay(self, order, lines, redemption=None):
        """The till's paying sync of ``order``, with ``lines`` and a redemption line
        of ``redemption`` (what the till says it deducted)."""
        if redemption:
            self.redemption.lst_price = -redemption
            lines = [*lines, (self.redemption, 1)]
        return self.pay_draft(order, lines)

    def wallet(self):
        return self.simulator.wallet_balance(ALICE["number"])

    def posted(self):
        return [p for p in self.simulator.purchases() if p["life_cycle_state"] == "POSTED"]

    def drain_all(self):
        while self.drain():
            pass

    def crmcom_story(self, order):
        """What CRM.COM holds and what the order says of it."""
        self.drain_all()
        order.invalidate_recordset()
        fields = [
            name
            for name in order._fields
            if name.startswith("crmcom_") and name != "crmcom_log_ids"
        ]
        return (
            [(p["number"], p["life_cycle_state"]) for p in self.simulator.purchases()],
            self.wallet(),
            len(self.simulator.spend_requests()),
            order.read(fields)[0],
        )

    # ------------------------------------------------------- the order's story

    def test_nobody_writes_the_crmcom_story_of_an_order(self):
        order = self.spent_draft(2)
        self.pay(order, [(self.coffee, 5)], redemption=2)
        before = self.crmcom_story(order)
        self.assertEqual(before[1], Decimal("21.00"))  # 20 + 3 awarded - 2 spent
        attacks = [
            {"crmcom_state": "cancel_pending"},
            {"crmcom_state": "pending", "crmcom_purchase_id": False, "crmcom_attempts": 0},
            {"crmcom_warning": False},
            {"crmcom_purchase_id": "ffffffffffffffffffffffffffffffff"},
            {"crmcom_redemption_allowed": 100.0},
            {"crmcom_replace_after_cancel": True, "crmcom_next_attempt_at": "2000-01-01"},
        ]
        for user in self.everyone:
            words = "written by CRM.COM Rewards" if user in self.order_writers else ""
            for values in attacks:
                with self.subTest(user=user.login, values=values):
                    with self.assertRaisesRegex(AccessError, words):
                        order.with_user(user).write(values)
        self.assertEqual(self.crmcom_story(order), before)

    def test_nobody_creates_or_copies_an_order_with_a_crmcom_story(self):
        session = self.config.current_session_id
        values = {
            "session_id": session.id,
            "partner_id": self.alice.id,
            "amount_tax": 0.0,
            "amount_total": 4.0,
            "amount_paid": 0.0,
            "amount_return": 0.0,
        }
        for user in self.order_writers:
            with self.subTest(user=user.login):
                Order = self.env["pos.order"].with_user(user)
                with self.assertRaisesRegex(AccessError, "written by CRM.COM Rewards"):
                    Order.create({**values, "crmcom_state": "sent"})
                with self.assertRaisesRegex(AccessError, "written by CRM.COM Rewards"):
                    Order.create({**values, "crmcom_purchase_id": "a" * 32})
                # A default given by the caller's context is dropped, not obeyed.
                order = Order.with_context(default_crmcom_state="sent").create(values)
                self.assertEqual(order.crmcom_state, "none")
                with self.assertRaisesRegex(AccessError, "written by CRM.COM Rewards"):
                    order.copy({"crmcom_state": "cancel_pending"})
        self.assertEqual(self.simulator.call_count(), 0)

    def test_a_draft_with_a_purchase_is_not_deleted_without_cancelling_it(self):
        order = self.spent_draft(2)
        before = self.crmcom_story(order)
        for user in self.cashier | self.manager:
            with self.subTest(user=user.login), self.assertRaises(UserError):
                order.with_user(user).unlink()
        self.assertEqual(self.crmcom_story(order), before)
        # The honest way: cancel the draft (the purchase goes), then delete it.
        order.with_user(self.cashier).action_pos_order_cancel()
        self.drain_all()
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertEqual(self.wallet(), Decimal("20.00"))
        order.with_user(self.cashier).unlink()

    def test_lines_of_a_redeemed_order_change_only_through_the_till(self):
        order = self.spent_draft(2)
        coffee = order.lines
        before = self.crmcom_story(order)
        for user in self.cashier | self.manager:
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    coffee.with_user(user).write({"qty": 50, "price_subtotal_incl": 200.0})
                with self.assertRaises(AccessError):
                    self.env["pos.order.line"].with_user(user).create(
                        {
                            "order_id": order.id,
                            "product_id": self.sandwich.id,
                            "qty": 1,
                            "price_unit": 7.5,
                            "price_subtotal": 7.5,
                            "price_subtotal_incl": 7.5,
                        }
                    )
                with self.assertRaises(AccessError):
                    coffee.with_user(user).unlink()
        self.assertEqual(self.crmcom_story(order), before)

    def test_retry_is_for_pos_managers(self):
        order = self.sell([(self.coffee, 2)])
        in_flow(order).write({"crmcom_state": "failed"})
        for user in self.cashier | self.internal:
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                order.with_user(user).action_crmcom_retry()
        self.assertEqual(self.posted(), [])
        order.with_user(self.manager).action_crmcom_retry()  # positive control
        self.assertEqual(order.crmcom_state, "sent")
        self.assertEqual(len(self.posted()), 1)

    # --------------------------------------------------------- crafted syncs

    def test_a_draft_sync_changing_a_redeemed_order_is_refused(self):
        order = self.spent_draft(2)
        before = self.crmcom_story(order)
        for lines, customer in (
            ([(self.coffee, 9)], None),  # more coffee on the same purchase
            ([(self.coffee, 5), (self.sandwich, 1)], None),
            ([(self.coffee, 5)], self.customer),  # another customer
        ):
            with self.subTest(lines=lines, customer=customer):
                data = self.create_ui_order_data(
                    lines, customer=customer or self.alice, uuid=order.uuid
                )
                data.update(
                    state="draft",
                    payment_ids=[],
                    amount_paid=0,
                    name=order.pos_reference,
                    access_token=order.access_token,
                )
                data["lines"] = [(2, line.id) for line in order.lines] + data["lines"]
                # The RPC's transaction is rolled back on the error; here, its savepoint.
                with (
                    self.assertRaisesRegex(UserError, "cancel the redemption"),
                    self.env.cr.savepoint(),
                ):
                    self.env["pos.order"].with_user(self.cashier).sync_from_ui([data])
        self.assertEqual(self.crmcom_story(order), before)
        self.assertEqual(order.lines.mapped("qty"), [5.0])
        # The honest till: the same basket with the redemption line added.
        self.pay(order, [(self.coffee, 5)], redemption=2)
        self.assertEqual(order.state, "paid")
        self.assertFalse(order.crmcom_warning)

    def test_paid_with_other_lines_than_the_purchase_is_replaced_and_flagged(self):
        order = self.spent_draft(2)  # purchase of 5 coffees, 2.00 spent
        self.pay(order, [(self.coffee, 2)], redemption=2)  # paid: 2 coffees
        self.assertIn("other items", order.crmcom_warning)
        self.drain_all()
        [first, second] = sorted(self.simulator.purchases(), key=lambda p: p["number"])
        self.assertEqual(first["life_cycle_state"], "CANCELLED")
        self.assertEqual(second["life_cycle_state"], "POSTED")
        self.assertEqual(second["total_amount"], Decimal("8.00"))
        # CRM.COM holds what was sold: 8.00, 2.00 spent again, 0.40 + 0.80 awarded.
        self.assertEqual(second["total_spend_amount"], Decimal("2.00"))
        self.assertEqual(self.wallet(), Decimal("20.00") + second["total_awarded_amount"] - 2)
        self.assertEqual(order.crmcom_state, "sent")

    def test_an_oversized_redemption_line_is_never_spent_after_the_sale(self):
        order = self.spent_draft(2)
        self.pay(order, [(self.coffee, 5)], redemption=9)  # CRM.COM spent 2.00
        self.assertIn("9.00", order.crmcom_warning)
        self.assertIn("given without rewards", order.crmcom_warning)
        self.drain_all()
        self.assertEqual(self.simulator.call_count(SPEND), 1)
        self.assertEqual(self.wallet(), Decimal("21.00"))  # 20 + 3 - 2: only what was checked
        self.assertEqual(len(self.posted()), 1)

    def test_a_redemption_line_no_spend_made_is_flagged_and_not_spent(self):
        self.redemption.lst_price = -5.0
        order = self.sell([(self.coffee, 5), (self.redemption, 1)])
        self.assertIn("5.00", order.crmcom_warning)
        self.drain_all()
        [purchase] = self.posted()
        self.assertEqual(self.simulator.call_count(SPEND), 0)
        self.assertEqual(purchase["total_spend_amount"], Decimal("0.00"))
        self.assertEqual(self.wallet(), Decimal("20.00") + purchase["total_awarded_amount"])

    def test_a_redemption_line_below_the_spend_gives_the_rest_back(self):
        order = self.spent_draft(5)
        self.pay(order, [(self.coffee, 5)])  # the discount line left out: 5.00 lost?
        self.assertIn("wallet keeps the difference", order.crmcom_warning)
        self.drain_all()
        [purchase] = self.posted()
        self.assertEqual(purchase["total_spend_amount"], Decimal("0.00"))
        self.assertEqual(self.wallet(), Decimal("23.00"))  # 20 + 3 awarded, nothing spent

    def test_the_spend_check_uses_a_preview_of_the_saved_order(self):
        order = self.draft([(self.coffee, 1)])  # 4.00: at most 4.00 can be spent
        # A crafted preview of a bigger basket under the same order uuid.
        crafted = self.rewards(self.cashier).preview_order(
            self.config.id,
            {
                "uuid": order.uuid,
                "partner_id": self.alice.id,
                "lines": [
                    {
                        "product_id": self.coffee.id,
                        "qty": 10,
                        "price_subtotal": 36.36,
                        "price_subtotal_incl": 40.0,
                    }
                ],
            },
        )
        self.assertEqual(crafted["additional_spend_amount"], 20.0)
        answer = self.rewards(self.cashier).spend_order(self.config.id, order.uuid, 10)
        self.assertFalse(answer["ok"])
        self.assertIn("4.00", answer["message"])
        self.assertEqual(self.simulator.call_count(SPEND), 0)

    # ------------------------------------------------------- till settings

    def test_a_tills_crmcom_settings_are_for_pos_managers(self):
        for user in self.not_managers:
            for values in (
                {"crmcom_enabled": False},
                {"crmcom_unit_value": "ANOTHER-MERCHANT"},
                {"crmcom_unit_key": "id"},
                {"crmcom_external_system": "X"},
            ):
                with self.subTest(user=user.login, values=values):
                    with self.assertRaises(AccessError):
                        self.config.with_user(user).write(values)
        self.assertEqual(self.config.crmcom_unit_value, "SHOP1")
        self.assertTrue(self.config.crmcom_enabled)
        self.config.with_user(self.manager).write({"crmcom_external_system": "TILL-2"})
        self.assertEqual(self.config.crmcom_external_system, "TILL-2")

    # ------------------------------------------------------ partner identity

    def test_a_customers_crmcom_identity_is_for_flows_and_pos_managers(self):
        bob = self.env["res.partner"].create({"name": "Bob"})
        for user in self.cashier | self.internal | self.other_cashier:
            for values in (
                {"crmcom_account_number": ALICE["account_number"]},
                {"crmcom_participant_id": ALICE["id"]},
                {"crmcom_wallet_balance": 1000.0},
                {"crmcom_company_id": self.company_b.id},
            ):
                with self.subTest(user=user.login, values=values):
                    with self.assertRaisesRegex(AccessError, "CRM.COM identity"):
                        bob.with_user(user).write(values)
                    with self.assertRaisesRegex(AccessError, "CRM.COM identity"):
                        self.env["res.partner"].with_user(user).create({"name": "Eve", **values})
        self.assertFalse(bob.crmcom_account_number)
        # Positive control: a POS manager links a customer to their company's CRM.COM.
        bob.with_user(self.manager).write({"crmcom_account_number": "ACR0002"})
        self.assertEqual(bob.crmcom_company_id, self.company)

    def test_look_up_and_identification_need_pos_rights(self):
        for user in self.internal | self.portal:
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    self.alice.with_user(user).action_crmcom_lookup()
                answer = self.rewards(user).identify_customer(
                    self.config.id, "number", ALICE["number"]
                )
                self.assertEqual((answer["ok"], answer["reason"]), (False, "refused"))
        self.assertEqual(self.simulator.call_count(SHOW), 0)
        # A cashier of another company cannot use this company's till.
        answer = self.rewards(self.other_cashier).identify_customer(
            self.config.id, "number", ALICE["number"]
        )
        self.assertFalse(answer["ok"])
        self.assertEqual(self.simulator.call_count(SHOW), 0)
        answer = self.rewards(self.cashier).identify_customer(
            self.config.id, "number", ALICE["number"]
        )
        self.assertTrue(answer["ok"], answer)

    def test_access_tokens_are_not_listed_by_cashiers_and_masked_in_the_log(self):
        answer = self.rewards(self.cashier).identify_customer(
            self.config.id, "access_token", ALICE["card"]
        )
        self.assertTrue(answer["ok"], answer)
        for user in self.cashier | self.internal | self.other_cashier:
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    self.env["crmcom.access.token"].with_user(user).search_read([], ["code"])
                with self.assertRaises(AccessError):
                    self.alice.with_user(user).read(["crmcom_token_ids"])
        # Managers see the tokens of their companies' CRM.COM only.
        tokens = self.env["crmcom.access.token"].with_user(self.manager).search_read([], ["code"])
        self.assertIn(ALICE["card"], [token["code"] for token in tokens])
        manager_b = new_test_user(
            self.env(su=True),
            login="trust_manager_b",
            groups="base.group_user,point_of_sale.group_pos_manager",
            company_id=self.company_b.id,
            company_ids=[Command.set(self.company_b.ids)],
        )
        tokens = self.env["crmcom.access.token"].with_user(manager_b).search_read([], ["code"])
        self.assertNotIn(ALICE["card"], [token["code"] for token in tokens])
        [log] = self.env["crmcom.call.log"].sudo().search([("operation", "=", SHOW)])
        self.assertNotIn(ALICE["card"], log.request_body)
        self.assertIn(ALICE["card"][-4:], log.request_body)

    def test_identities_belong_to_one_companys_crmcom(self):
        self.configure_company(self.company_b)
        # Alice is linked to this company's CRM.COM. Company B's CRM.COM never
        # receives her under this company's account: its flows refuse her...
        with self.assertRaisesRegex(Exception, "another company"):
            self.alice._crmcom_customer_identifier(self.company_b)
        # ... and identifying her at company B links a customer of its own.
        client = self.company_b._crmcom_client()
        participant = read_participant(
            client.show_rewards_participant(rewards_participant_identifier(number=ALICE["number"]))
        )
        linked = self.env["res.partner"]._crmcom_link_participant(participant, self.company_b)
        self.assertNotEqual(linked, self.alice)
        self.assertEqual(linked.crmcom_company_id, self.company_b)
        self.assertEqual(self.alice.crmcom_company_id, self.company)
        # A till of this company does not send a customer of company B's CRM.COM.
        order = self.sell([(self.coffee, 2)], customer=linked)
        self.assertEqual(order.crmcom_state, "none")
        preview = self.rewards(self.cashier).preview_order(
            self.config.id,
            {
                "uuid": order.uuid,
                "partner_id": linked.id,
                "lines": [
                    {
                        "product_id": self.coffee.id,
                        "qty": 1,
                        "price_subtotal": 3.64,
                        "price_subtotal_incl": 4.0,
                    }
                ],
            },
        )
        self.assertFalse(preview["ok"])
        self.assertIn("another company", preview["message"])

    # ------------------------------------------------------------ bad input

    def test_malformed_till_calls_get_words(self):
        order = self.draft([(self.coffee, 5)])
        rewards = self.rewards(self.cashier)
        config = self.config.id
        calls = [
            ("spend huge", lambda: rewards.spend_order(config, order.uuid, 1e308)),
            ("spend inf", lambda: rewards.spend_order(config, order.uuid, float("inf"))),
            ("spend nan", lambda: rewards.spend_order(config, order.uuid, float("nan"))),
            ("spend list", lambda: rewards.spend_order(config, order.uuid, [5])),
            ("spend uuid", lambda: rewards.spend_order(config, ["x"], 5)),
            ("spend long uuid", lambda: rewards.spend_order(config, "x" * 10_000, 5)),
            ("spend config", lambda: rewards.spend_order("1", order.uuid, 5)),
            # Odoo's RPC layer reads the ids of [[ids], ...]; anything but one known
            # till is refused in words.
            ("spend two tills", lambda: rewards.spend_order([config, config], order.uuid, 5)),
            ("spend no till", lambda: rewards.spend_order([], order.uuid, 5)),
            ("spend unknown till", lambda: rewards.spend_order(10**9, order.uuid, 5)),
            ("cancel dict", lambda: rewards.cancel_order_rewards(config, {"uuid": 1})),
            ("identify kind", lambda: rewards.identify_customer(config, "sql", "x")),
            ("identify value", lambda: rewards.identify_customer(config, "number", 10**100)),
            ("preview data", lambda: rewards.preview_order(config, "x")),
            (
                "preview qty",
                lambda: rewards.preview_order(
                    config,
                    {
                        "uuid": order.uuid,
                        "partner_id": self.alice.id,
                        "lines": [
                            {
                                "product_id": self.coffee.id,
                                "qty": float("nan"),
                                "price_subtotal": 1,
                                "price_subtotal_incl": 1,
                            }
                        ],
                    },
                ),
            ),
            (
                "preview partner",
                lambda: rewards.preview_order(
                    config, {"uuid": order.uuid, "partner_id": 10**12, "lines": []}
                ),
            ),
        ]
        for name, call in calls:
            with self.subTest(call=name):
                answer = call()
                self.assertIs(answer["ok"], False, answer)
                self.assertTrue(answer["message"])
        other = self.rewards(self.other_cashier).spend_order(config, order.uuid, 5)
        self.assertIs(other["ok"], False)
        self.assertEqual(self.simulator.call_count(), 0)
        self.assertEqual(order.crmcom_state, "none")

    def test_a_sync_of_many_orders_takes_a_bounded_number_of_locks(self):
        orders = []
        for _index in range(80):
            data = self.create_ui_order_data([(self.coffee, 1)])
            data.update(state="draft", payment_ids=[], amount_paid=0)
            orders.append(data)
        self.env["pos.order"].sync_from_ui(orders)
        self.env.cr.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        self.assertLessEqual(self.env.cr.fetchone()[0], 1)

    # --------------------------------------------- found by a review, closed

    def bob(self):
        answer = self.rewards(self.cashier).identify_customer(
            self.config.id, "number", BOB["number"]
        )
        self.assertTrue(answer["ok"], answer)
        return self.env["res.partner"].browse(answer["partner_id"])

    def test_a_refund_line_of_the_wrong_sign_spends_nothing_more(self):
        order = self.spent_draft(2)
        self.pay(order, [(self.coffee, 5)], redemption=2)
        self.drain_all()
        self.assertEqual(self.wallet(), Decimal("21.00"))
        red = order.lines.filtered(lambda line: line.product_id == self.redemption)
        coffee = order.lines - red
        # The line refunding the discount at +15.00 instead of -0.40: 15.00 more cash.
        self.redemption.lst_price = 15.0
        data = self.create_ui_order_data(
            [
                {"product": self.coffee, "quantity": -1, "refunded_orderline_id": coffee.id},
                {"product": self.redemption, "quantity": -1, "refunded_orderline_id": red.id},
            ],
            customer=self.alice,
        )
        result = self.env["pos.order"].with_user(self.cashier).sync_from_ui([data])
        refund = self.env["pos.order"].browse(result["pos.order"][0]["id"])
        self.assertIn("paid back", refund.crmcom_warning)
        self.drain_all()
        [kept] = self.posted()
        # The kept items spend at most the 2.00 the customer still has on them.
        self.assertLessEqual(kept["total_spend_amount"], Decimal("2.00"))
        self.assertEqual(
            self.wallet(),
            Decimal("20.00") + kept["total_awarded_amount"] - kept["total_spend_amount"],
        )

    def test_a_draft_cancelled_by_a_plain_write_cancels_its_purchase(self):
        order = self.draft([(self.coffee, 50)])
        answer = self.rewards(self.cashier).spend_order(self.config.id, order.uuid, 0)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(self.wallet(), Decimal("20.00") + Decimal(str(answer["award_amount"])))
        order.with_user(self.cashier).write({"state": "cancel"})
        self.drain_all()
        self.assertEqual(order.crmcom_state, "cancelled")
        self.assertEqual(self.posted(), [])
        self.assertEqual(self.wallet(), Decimal("20.00"))

    def test_paying_an_order_again_claims_nothing_for_another_customer(self):
        bob = self.bob()
        order = self.sell([(self.coffee, 50)], customer=self.customer)  # not a member
        self.assertEqual(order.crmcom_state, "none")
        order.with_user(self.cashier).write({"partner_id": bob.id})  # e.g. to invoice it
        order.with_user(self.cashier).action_pos_order_paid()
        order.with_user(self.cashier).write({"state": "done"})
        self.drain_all()
        self.assertEqual(order.crmcom_state, "none")
        self.assertEqual(self.simulator.purchases(), [])

    def test_the_customer_of_an_order_sent_to_crmcom_stays(self):
        bob = self.bob()
        order = self.sell([(self.coffee, 5)])
        self.drain_all()
        before = self.crmcom_story(order)
        for user in self.cashier | self.manager:
            with self.subTest(user=user.login):
                with self.assertRaisesRegex(AccessError, "cannot change"):
                    order.with_user(user).write({"partner_id": bob.id})
        self.assertEqual(self.crmcom_story(order), before)
        # A draft whose purchase the till holds: the same.
        draft = self.spent_draft(2)
        with self.assertRaisesRegex(AccessError, "cannot change"):
            draft.with_user(self.cashier).write({"partner_id": bob.id})

    def test_a_manager_of_another_company_cannot_rewrite_identities(self):
        manager_b = new_test_user(
            self.env(su=True),
            login="trust_manager_b2",
            groups="base.group_user,base.group_partner_manager,point_of_sale.group_pos_manager",
            company_id=self.company_b.id,
            company_ids=[Command.set(self.company_b.ids)],
        )
        self.assertEqual(self.alice.crmcom_company_id, self.company)
        for values in (
            {"crmcom_account_number": "ACR0002", "crmcom_participant_id": False},
            {"crmcom_company_id": self.company_b.id},
        ):
            with self.subTest(values=values):
                with self.assertRaisesRegex(AccessError, "another company"):
                    self.alice.with_user(manager_b).write(values)
        self.assertEqual(self.alice.crmcom_account_number, ALICE["account_number"])
        self.assertEqual(self.alice.crmcom_company_id, self.company)
