# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Invariant 5, "secrets stay home": the CRM.COM credentials of a company (web API
key, username, password, organisation) and the CRM.COM call log are for
administrators only.

Every check goes through the ORM methods an RPC client can call (``read``,
``search_read``, ``fields_get``, ``web_read``, ``web_search_read``, ``read_group``,
``web_read_group``, ``export_data``, ``onchange``, ``search`` domains, ``write``,
the POS data load) as a POS user, a POS manager and an "Access Rights" manager, and
the same call as an administrator is the positive control: it must show the secret,
so a probe that cannot see anything proves nothing.
"""

from functools import partial

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged

from ..models.trust import in_flow

SECRETS = {
    "crmcom_web_api_key": "WEBAPIKEY-5e0c41d7a9-do-not-leak",
    "crmcom_username": "crmcom-login-7f3b-do-not-leak",
    "crmcom_password": "PASSWORD-91c2e8-do-not-leak",
    "crmcom_organisation": "ORGANISATION-3a6d-do-not-leak",
}
SECRET_FIELDS = list(SECRETS)
LOG_BODY_A = '{"marker": "CALL-LOG-BODY-COMPANY-A"}'
LOG_BODY_B = '{"marker": "CALL-LOG-BODY-COMPANY-B"}'


@tagged("post_install", "-at_install")
class TestCrmcomAccessRights(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "CRM.COM Company B"})
        both = [Command.set((cls.company | cls.company_b).ids)]

        def user(login, groups):
            return new_test_user(
                cls.env,
                login=login,
                groups=groups,
                company_id=cls.company.id,
                company_ids=both,
            )

        # base.group_allow_export: without it export_data refuses anyone but admins,
        # and the export checks below would prove nothing.
        cls.pos_user = user(
            "crmcom_pos_user",
            "base.group_user,base.group_allow_export,point_of_sale.group_pos_user",
        )
        cls.pos_manager = user(
            "crmcom_pos_manager",
            "base.group_user,base.group_allow_export,point_of_sale.group_pos_manager",
        )
        # "Administration / Access Rights": may write res.company, not its secrets.
        cls.rights_manager = user(
            "crmcom_rights_manager",
            "base.group_user,base.group_allow_export,base.group_erp_manager,"
            "point_of_sale.group_pos_manager",
        )
        cls.admin = user(
            "crmcom_admin", "base.group_user,base.group_system,point_of_sale.group_pos_manager"
        )
        cls.non_admins = cls.pos_user | cls.pos_manager | cls.rights_manager

        # The administrator sets the secrets, like on the settings page.
        cls.company.with_user(cls.admin).write(
            {
                "crmcom_enabled": True,
                "crmcom_base_url": "https://crm.example.com",
                "crmcom_auth_method": "password",
                **SECRETS,
            }
        )

        cls.pos_config = cls.env["pos.config"].create(
            {
                "name": "CRM.COM access till",
                "crmcom_enabled": True,
                "crmcom_unit_key": "alternative_code",
                "crmcom_unit_value": "SHOP1",
            }
        )
        cls.session = cls.env["pos.session"].create(
            {"config_id": cls.pos_config.id, "user_id": cls.admin.id}
        )
        cls.partner = cls.env["res.partner"].create(
            {
                "name": "Alice CRM.COM",
                "crmcom_participant_id": "40000000000000000000000000000099",
                "crmcom_participant_number": "RP-ACCESS-1",
                "crmcom_account_number": "ACR-ACCESS-1",
            }
        )
        cls.token = cls.env["crmcom.access.token"].create(
            {"code": "4000000000009999", "partner_id": cls.partner.id}
        )
        cls.order = in_flow(cls.env["pos.order"]).create(
            {
                "session_id": cls.session.id,
                "company_id": cls.company.id,
                "partner_id": cls.partner.id,
                "amount_tax": 0.0,
                "amount_total": 10.0,
                "amount_paid": 10.0,
                "amount_return": 0.0,
                "crmcom_state": "failed",
                "crmcom_last_error": "CRM.COM could not be reached.",
            }
        )
        Log = cls.env["crmcom.call.log"].sudo()
        cls.log_a = Log.create(
            {
                "operation": "purchases/create",
                "http_method": "POST",
                "outcome": "COMMUNICATION_ERROR",
                "success": False,
                "request_body": LOG_BODY_A,
                "response_body": LOG_BODY_A,
                "company_id": cls.company.id,
                "pos_order_id": cls.order.id,
                "partner_id": cls.partner.id,
            }
        )
        cls.log_b = Log.create(
            {
                "operation": "rewards_participants/show",
                "outcome": "OK",
                "success": True,
                "request_body": LOG_BODY_B,
                "company_id": cls.company_b.id,
            }
        )

    # ------------------------------------------------------------------ helpers
    def assertNoSecret(self, payload, what):
        text = repr(payload)
        for name, value in SECRETS.items():
            self.assertNotIn(value, text, f"{what}: the value of {name} came back")

    def assertAllSecrets(self, payload, what):
        """Positive control: the administrator's answer does hold every secret."""
        text = repr(payload)
        for name, value in SECRETS.items():
            self.assertIn(value, text, f"{what}: the administrator should see {name}")

    def denied_or_clean(self, call, what):
        """``call()`` either raises AccessError or returns no secret.
        Returns True when it was denied."""
        try:
            result = call()
        except AccessError:
            return True
        self.assertNoSecret(result, what)
        return False

    def each_non_admin(self):
        for user in self.non_admins:
            with self.subTest(user=user.login):
                yield user

    # --------------------------------------------------------------- res.company
    def test_company_read_entry_points(self):
        company_id = self.company.id
        spec = {"name": {}, **{name: {} for name in SECRET_FIELDS}}
        # Positive control first: the same calls as administrator show the secrets.
        Company = self.env["res.company"].with_user(self.admin)
        record = Company.browse(company_id)
        self.assertEqual(
            record.read(SECRET_FIELDS)[0]["crmcom_web_api_key"], SECRETS["crmcom_web_api_key"]
        )
        self.assertAllSecrets(record.read(), "admin read()")
        self.assertAllSecrets(Company.search_read([("id", "=", company_id)]), "admin search_read()")
        self.assertAllSecrets(record.web_read(spec), "admin web_read")
        self.assertAllSecrets(
            Company.web_search_read([("id", "=", company_id)], spec), "admin web_search_read"
        )
        self.assertTrue(set(SECRET_FIELDS) <= set(Company.fields_get()))
        self.assertAllSecrets(record.export_data(SECRET_FIELDS), "admin export_data")
        groups = Company.read_group(
            [("id", "=", company_id)], ["crmcom_web_api_key"], ["crmcom_web_api_key"]
        )
        self.assertEqual([g["crmcom_web_api_key"] for g in groups], [SECRETS["crmcom_web_api_key"]])
        self.assertEqual(
            Company.search([("crmcom_password", "=", SECRETS["crmcom_password"])]), record
        )

        for user in self.each_non_admin():
            Company = self.env["res.company"].with_user(user)
            record = Company.browse(company_id)
            # No field list: the secrets are left out, the rest is there.
            values = record.read()[0]
            self.assertEqual(values["crmcom_base_url"], "https://crm.example.com")
            self.assertFalse(set(SECRET_FIELDS) & set(values))
            self.assertNoSecret(values, "read()")
            rows = Company.search_read([("id", "=", company_id)])
            self.assertEqual([row["id"] for row in rows], [company_id])
            self.assertNoSecret(rows, "search_read() without fields")
            described = Company.fields_get()
            self.assertIn("crmcom_base_url", described)
            self.assertFalse(set(SECRET_FIELDS) & set(described), "fields_get() lists a secret")
            # Asking for a secret by name is refused.
            for name in SECRET_FIELDS:
                with self.assertRaises(AccessError):
                    record.read([name])
                with self.assertRaises(AccessError):
                    Company.search_read([("id", "=", company_id)], ["name", name])
                with self.assertRaises(AccessError):
                    record.web_read({"name": {}, name: {}})
                with self.assertRaises(AccessError):
                    Company.web_search_read([("id", "=", company_id)], {"name": {}, name: {}})
                with self.assertRaises(AccessError):
                    Company.read_group([("id", "=", company_id)], [name], [name])
                with self.assertRaises(AccessError):
                    Company.web_read_group([("id", "=", company_id)], [name], [name])
                with self.assertRaises(AccessError):
                    record.export_data(["name", name])
                with self.assertRaises(AccessError):
                    record.onchange({}, [], {"name": {}, name: {}})
                # A domain or an order on a secret would be an oracle.
                with self.assertRaises(AccessError):
                    Company.search([(name, "=", SECRETS[name])])
                with self.assertRaises(AccessError):
                    Company.search([], order=name)

    def test_company_secret_write(self):
        company = self.company
        for user in self.each_non_admin():
            for name in SECRET_FIELDS:
                with self.assertRaises(AccessError):
                    company.with_user(user).write({name: "overwritten"})
        # The Access Rights manager may write the company, only not its secrets: the
        # refusal above comes from the field's group, not from the model's rights.
        company.with_user(self.rights_manager).write({"crmcom_external_system": "RIGHTS-MGR"})
        self.assertEqual(company.crmcom_external_system, "RIGHTS-MGR")
        company.invalidate_recordset()
        self.assertEqual(
            company.sudo().read(SECRET_FIELDS)[0]["crmcom_password"], SECRETS["crmcom_password"]
        )
        # Positive control: the administrator can change a secret.
        company.with_user(self.admin).write({"crmcom_web_api_key": "NEW-KEY"})
        self.assertEqual(company.sudo().crmcom_web_api_key, "NEW-KEY")

    # ------------------------------------------------------- res.config.settings
    def test_settings_admin_sees_and_sets_secrets(self):
        Settings = self.env["res.config.settings"].with_user(self.admin)
        spec = {"company_id": {}, "pos_config_id": {}, **{name: {} for name in SECRET_FIELDS}}
        # What the settings page calls to open (a new record: onchange computes the
        # related fields; default_get has no value for related fields at all).
        defaults = Settings.default_get(list(Settings.fields_get()))
        self.assertNoSecret(defaults, "default_get() has no related values")
        opened = Settings.onchange({}, [], spec)["value"]
        for name, value in SECRETS.items():
            self.assertEqual(opened[name], value, f"settings page does not show {name}")
        settings = Settings.create({})
        self.assertAllSecrets(settings.read(SECRET_FIELDS), "admin settings read")
        self.assertAllSecrets(settings.web_read(spec), "admin settings web_read")
        self.assertTrue(set(SECRET_FIELDS) <= set(Settings.fields_get()))
        # Saving the page writes the secrets to the company.
        Settings.create({"crmcom_password": "CHANGED-BY-SETTINGS"}).execute()
        self.assertEqual(self.company.sudo().crmcom_password, "CHANGED-BY-SETTINGS")

    def test_settings_hidden_from_non_admins(self):
        admin_settings = self.env["res.config.settings"].with_user(self.admin).create({})
        spec = {"company_id": {}, **{name: {} for name in SECRET_FIELDS}}
        for user in self.each_non_admin():
            Settings = self.env["res.config.settings"].with_user(user)
            described = Settings.fields_get()
            self.assertIn("crmcom_base_url", described)
            self.assertFalse(set(SECRET_FIELDS) & set(described))
            self.denied_or_clean(partial(Settings.default_get, list(described)), "default_get()")
            with self.assertRaises(AccessError):
                Settings.onchange({}, [], spec)
            with self.assertRaises(AccessError):
                Settings.create({})
            with self.assertRaises(AccessError):
                Settings.create({"crmcom_web_api_key": "overwritten"})
            mine = admin_settings.with_user(user)
            with self.assertRaises(AccessError):
                mine.read()
            with self.assertRaises(AccessError):
                mine.read(SECRET_FIELDS)
            with self.assertRaises(AccessError):
                mine.web_read(spec)
            with self.assertRaises(AccessError):
                Settings.search_read([("id", "=", admin_settings.id)])
            with self.assertRaises(AccessError):
                Settings.web_search_read([("id", "=", admin_settings.id)], spec)
            with self.assertRaises(AccessError):
                mine.write({"crmcom_password": "overwritten"})
            with self.assertRaises(AccessError):
                mine.execute()
        self.assertEqual(self.company.sudo().crmcom_web_api_key, SECRETS["crmcom_web_api_key"])
        self.assertEqual(self.company.sudo().crmcom_password, SECRETS["crmcom_password"])

    # -------------------- records that lead to the company: pos.config, partner, ...
    def _records_leading_to_company(self):
        """(model, record, spec reaching the company's secrets through company_id)."""
        secrets = {name: {} for name in SECRET_FIELDS}
        company_spec = {"company_id": {"fields": {"name": {}, **secrets}}}
        return [
            ("pos.config", self.pos_config, company_spec),
            (
                "res.partner",
                self.partner,
                {"name": {}, "company_id": {"fields": {"name": {}, **secrets}}},
            ),
            ("pos.order", self.order, company_spec),
            (
                "crmcom.access.token",
                self.token,
                {"code": {}, "partner_id": {"fields": {"name": {}, **company_spec}}},
            ),
        ]

    def test_related_records_do_not_carry_secrets(self):
        # The partner has no company by default: give it one, or the path is empty.
        self.partner.company_id = self.company
        for model, record, spec in self._records_leading_to_company():
            path = "partner_id/company_id" if model == "crmcom.access.token" else "company_id"
            export_paths = [f"{path}/{name}" for name in SECRET_FIELDS]
            # Positive control: the administrator reaches the secrets this way.
            as_admin = record.with_user(self.admin)
            self.assertAllSecrets(as_admin.web_read(spec), f"admin {model} web_read")
            self.assertAllSecrets(
                self.env[model]
                .with_user(self.admin)
                .web_search_read([("id", "=", record.id)], spec),
                f"admin {model} web_search_read",
            )
            self.assertAllSecrets(as_admin.export_data(export_paths), f"admin {model} export")
            for user in self.each_non_admin():
                with self.subTest(model=model):
                    Model = self.env[model].with_user(user)
                    mine = record.with_user(user)
                    # Denied outright for some (access tokens are personal data).
                    self.denied_or_clean(partial(mine.read, ["display_name"]), f"{model} read")
                    self.denied_or_clean(
                        partial(Model.search_read, [("id", "=", record.id)], ["display_name"]),
                        model,
                    )
                    self.denied_or_clean(mine.read, f"{model} read() without fields")
                    self.denied_or_clean(
                        partial(Model.search_read, [("id", "=", record.id)]),
                        f"{model} search_read() without fields",
                    )
                    self.assertFalse(set(SECRET_FIELDS) & set(Model.fields_get()))
                    with self.assertRaises(AccessError):
                        mine.web_read(spec)
                    with self.assertRaises(AccessError):
                        Model.web_search_read([("id", "=", record.id)], spec)
                    with self.assertRaises(AccessError):
                        mine.export_data(export_paths)
                    with self.assertRaises(AccessError):
                        Model.search(
                            [(f"{path.replace('/', '.')}.crmcom_web_api_key", "!=", False)]
                        )

    def test_crmcom_fields_readable_by_pos_staff(self):
        """What POS staff need is not hidden by mistake (the other side of the coin)."""
        for user in (self.pos_user, self.pos_manager):
            with self.subTest(user=user.login):
                partner = self.partner.with_user(user).read(
                    ["crmcom_participant_number", "crmcom_account_number"]
                )[0]
                self.assertEqual(partner["crmcom_participant_number"], "RP-ACCESS-1")
                if user == self.pos_manager:  # cards, phones, e-mails: managers only
                    tokens = self.partner.with_user(user).read(["crmcom_token_ids"])[0]
                    self.assertEqual(tokens["crmcom_token_ids"], self.token.ids)
                    self.assertEqual(
                        self.env["res.partner"]
                        .with_user(user)
                        .search([("crmcom_token_search", "=", "4000000000009999")]),
                        self.partner,
                    )
                order = self.order.with_user(user).read(["crmcom_state", "crmcom_last_error"])[0]
                self.assertEqual(order["crmcom_state"], "failed")
                config = self.pos_config.with_user(user).read(
                    ["crmcom_enabled", "crmcom_unit_value"]
                )[0]
                self.assertEqual(config["crmcom_unit_value"], "SHOP1")
                groups = (
                    self.env["pos.order"]
                    .with_user(user)
                    .read_group([("id", "=", self.order.id)], ["crmcom_state"], ["crmcom_state"])
                )
                self.assertEqual([g["crmcom_state"] for g in groups], ["failed"])

    def test_access_tokens_rights(self):
        token = self.token
        # Cards, phones and e-mails are personal data: not for cashiers to list.
        with self.assertRaises(AccessError):
            token.with_user(self.pos_user).read(["code"])
        with self.assertRaises(AccessError):
            token.with_user(self.pos_user).write({"code": "4000000000000000"})
        with self.assertRaises(AccessError):
            self.env["crmcom.access.token"].with_user(self.pos_user).create(
                {"code": "4000000000008888", "partner_id": self.partner.id}
            )
        with self.assertRaises(AccessError):
            token.with_user(self.pos_user).unlink()
        # Positive control: a POS manager manages tokens.
        token.with_user(self.pos_manager).write({"code": "4000000000007777"})
        self.assertEqual(token.code, "4000000000007777")

    # ------------------------------------------------------------ POS data load
    def test_pos_data_load_carries_no_secret(self):
        """The till's data (what the browser receives when the POS opens) never holds
        a secret, whoever opens it, the administrator included."""
        for user in self.non_admins | self.admin:
            with self.subTest(user=user.login):
                data = self.session.with_user(user).load_data([])
                self.assertIn("res.company", data)
                self.assertEqual(data["res.company"]["data"][0]["id"], self.company.id)
                self.assertNoSecret(data, "POS data load")

    def test_till_reads_back_its_orders(self):
        """After every sync the till reads its orders back with *all* fields
        (pos.order has no _load_pos_data_fields: ``read([])``), and it loads the open
        orders of the session the same way. The admin-only call log must not make
        those reads fail for cashiers: a failing read would block the sale."""
        for user in (self.pos_user, self.pos_manager):
            with self.subTest(user=user.login):
                data = self.order.with_user(user).read_pos_data(
                    [{"session_id": self.session.id}], self.pos_config.id
                )
                row = data["pos.order"][0]
                self.assertEqual(row["id"], self.order.id)
                self.assertEqual(row["crmcom_state"], "failed")
                self.assertNotIn("crmcom_log_ids", row)
                loaded = self.session.with_user(user).load_data(["pos.config", "pos.order"])[
                    "pos.order"
                ]
                self.assertNotIn("error", loaded)
                self.assertEqual([order["id"] for order in loaded["data"]], self.order.ids)
                values = self.order.with_user(user).read()[0]
                self.assertEqual(values["crmcom_last_error"], "CRM.COM could not be reached.")
                self.assertNotIn("crmcom_log_ids", values)

    # ------------------------------------------------------------------ call log
    def test_call_log_admin_only(self):
        Log = self.env["crmcom.call.log"]
        spec = {"operation": {}, "request_body": {}, "response_body": {}}
        # Positive control: the administrator reads the log, directly and from the order.
        as_admin = Log.with_user(self.admin)
        self.assertEqual(
            as_admin.search([("id", "=", self.log_a.id)]).read(["request_body"])[0]["request_body"],
            LOG_BODY_A,
        )
        self.assertIn(self.log_a, as_admin.search([]))
        self.assertEqual(
            as_admin.web_search_read([("id", "=", self.log_a.id)], spec)["records"][0][
                "request_body"
            ],
            LOG_BODY_A,
        )
        self.assertTrue(as_admin.read_group([], ["operation"], ["operation"]))
        self.assertIn(
            LOG_BODY_A, repr(self.log_a.with_user(self.admin).export_data(["request_body"]))
        )
        order_spec = {"crmcom_log_ids": {"fields": {"request_body": {}}}}
        self.assertIn(LOG_BODY_A, repr(self.order.with_user(self.admin).web_read(order_spec)))
        for user in self.each_non_admin():
            for label, call in self._call_log_probes(user, spec, order_spec).items():
                with self.subTest(call=label), self.assertRaises(AccessError):
                    call()
        # Even administrators neither create nor edit log entries (the server does).
        with self.assertRaises(AccessError):
            self.log_a.with_user(self.admin).write({"operation": "changed"})
        with self.assertRaises(AccessError):
            Log.with_user(self.admin).create({"operation": "forged", "company_id": self.company.id})
        self.log_a.with_user(self.admin).unlink()  # clearing the log is allowed
        self.assertFalse(self.log_a.exists())

    def _call_log_probes(self, user, spec, order_spec):
        """Every way ``user`` could reach the call log, by name: each must be denied."""
        Mine = self.env["crmcom.call.log"].with_user(user)
        log = self.log_a.with_user(user)
        Orders = self.env["pos.order"].with_user(user)
        order = self.order.with_user(user)
        return {
            "check_access": lambda: Mine.check_access("read"),
            "search": lambda: Mine.search([]),
            "search_count": lambda: Mine.search_count([]),
            "read fields": lambda: log.read(["operation"]),
            "read": lambda: log.read(),
            "search_read fields": lambda: Mine.search_read([], ["operation"]),
            "search_read": lambda: Mine.search_read([]),
            "web_search_read": lambda: Mine.web_search_read([], spec),
            "web_read": lambda: log.web_read(spec),
            "read_group": lambda: Mine.read_group([], ["operation"], ["operation"]),
            "web_read_group": lambda: Mine.web_read_group([], ["operation"], ["operation"]),
            "export_data": lambda: log.export_data(["operation", "request_body"]),
            "write": lambda: log.write({"operation": "changed"}),
            "unlink": lambda: log.unlink(),
            "create": lambda: Mine.create({"operation": "forged", "company_id": self.company.id}),
            # ... nor through the order
            "order web_read": lambda: order.web_read(order_spec),
            "order read": lambda: order.read(["crmcom_log_ids"]),
            "order search": lambda: Orders.search(
                [("crmcom_log_ids.request_body", "ilike", "CALL-LOG")]
            ),
            "order export_data": lambda: order.export_data(["crmcom_log_ids/request_body"]),
        }

    def test_call_log_other_company_hidden(self):
        Log = self.env["crmcom.call.log"].with_user(self.admin)
        # Positive control: with both companies allowed, both entries are seen.
        both = Log.with_context(allowed_company_ids=[self.company.id, self.company_b.id])
        self.assertEqual(
            both.search([("id", "in", (self.log_a | self.log_b).ids)]), self.log_a | self.log_b
        )
        only_a = Log.with_context(allowed_company_ids=[self.company.id])
        self.assertEqual(only_a.search([("id", "in", (self.log_a | self.log_b).ids)]), self.log_a)
        self.assertNotIn(LOG_BODY_B, repr(only_a.search_read([], ["request_body"])))
        self.assertNotIn(
            LOG_BODY_B,
            repr(only_a.web_search_read([], {"request_body": {}, "company_id": {}})),
        )
        groups = only_a.read_group([], ["company_id"], ["company_id"])
        self.assertNotIn(self.company_b.id, [g["company_id"][0] for g in groups])
        with self.assertRaises(AccessError):
            only_a.browse(self.log_b.id).read(["request_body"])
        with self.assertRaises(AccessError):
            only_a.browse(self.log_b.id).unlink()
        # with_company(B) as the current company, only B allowed: the other way round.
        only_b = Log.with_company(self.company_b).with_context(
            allowed_company_ids=[self.company_b.id]
        )
        self.assertEqual(only_b.search([("id", "in", (self.log_a | self.log_b).ids)]), self.log_b)

    # ----------------------------------------------------------------- the views
    def test_views_show_admin_fields_to_admins_only(self):
        def arch(user, model, view_type):
            views = self.env[model].with_user(user).get_views([(False, view_type)])
            return views["views"][view_type]["arch"], views["models"]

        settings_arch, settings_models = arch(self.admin, "res.config.settings", "form")
        for name in SECRET_FIELDS:
            self.assertIn(f'name="{name}"', settings_arch)
            self.assertIn(name, settings_models["res.config.settings"]["fields"])
        self.assertIn('name="action_crmcom_test_connection"', settings_arch)
        order_arch, order_models = arch(self.admin, "pos.order", "form")
        self.assertIn('name="crmcom_log_ids"', order_arch)
        self.assertIn("crmcom.call.log", order_models)
        for user in self.non_admins:
            with self.subTest(user=user.login):
                order_arch, _models = arch(user, "pos.order", "form")
                self.assertIn('name="crmcom_state"', order_arch)
                self.assertNotIn('name="crmcom_log_ids"', order_arch)
                partner_arch, _models = arch(user, "res.partner", "form")
                self.assertIn('name="crmcom_participant_number"', partner_arch)
                self.assertIn('name="action_crmcom_lookup"', partner_arch)
                with self.assertRaises(AccessError):
                    arch(user, "res.config.settings", "form")
                with self.assertRaises(AccessError):
                    arch(user, "crmcom.call.log", "list")
        # Retry button: POS managers yes, POS users no.
        self.assertIn('name="action_crmcom_retry"', arch(self.pos_manager, "pos.order", "form")[0])
        self.assertNotIn('name="action_crmcom_retry"', arch(self.pos_user, "pos.order", "form")[0])
        # Tokens (personal data): an editable list for POS managers, absent for POS users.
        manager_partner = arch(self.pos_manager, "res.partner", "form")[0]
        user_partner = arch(self.pos_user, "res.partner", "form")[0]
        self.assertIn(
            'editable="bottom"', manager_partner.split('name="crmcom_token_ids"')[1][:400]
        )
        self.assertNotIn('name="crmcom_token_ids"', user_partner)
