"""18.0.1.2.0, one concern per file: the sender's scheduled action moves from the
removed ``crmcom.rewards`` model to ``pos.order``. Its record is ``noupdate``, and
deleting the old model would delete the action with it: move it first."""


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """UPDATE ir_act_server AS action
              SET model_id = (SELECT id FROM ir_model WHERE model = 'pos.order'),
                  model_name = 'pos.order',
                  code = 'model._crmcom_cron_send()'
             FROM ir_cron AS cron
             JOIN ir_model_data AS xmlid
                  ON xmlid.model = 'ir.cron' AND xmlid.res_id = cron.id
            WHERE action.id = cron.ir_actions_server_id
              AND xmlid.module = 'pos_crmcom_rewards'
              AND xmlid.name = 'ir_cron_crmcom_submit'"""
    )
