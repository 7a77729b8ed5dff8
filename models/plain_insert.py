"""One INSERT for the rows of a model with nothing to compute or check (the call log,
the till's previews): they are written at every till call and for every order the
sender sends, where the ORM's ``create`` cost more than the rest of that bookkeeping.
Each value goes through its field's own conversion, as ``create`` would send it."""

from odoo.tools import SQL


def insert_rows(model, rows):
    """Insert ``rows`` (dicts of field values, the same keys in each) into ``model``'s
    table, the log-access columns set as the ORM sets them (the user, the
    transaction's time); returns the new records. Nothing is validated beyond the
    database's constraints: the caller builds the rows itself."""
    if not rows:
        return model.browse()
    fields = [model._fields[name] for name in rows[0]]
    uid, now = model.env.uid, model.env.cr.now()
    values = SQL(", ").join(
        SQL(
            "(%s)",
            SQL(", ").join(
                [
                    *(field.convert_to_column_insert(row[field.name], model) for field in fields),
                    uid,
                    now,
                    uid,
                    now,
                ]
            ),
        )
        for row in rows
    )
    model.env.cr.execute(
        SQL(
            "INSERT INTO %s (%s, create_uid, create_date, write_uid, write_date) VALUES %s"
            " RETURNING id",
            SQL.identifier(model._table),
            SQL(", ").join(SQL.identifier(field.name) for field in fields),
            values,
        )
    )
    return model.browse([row[0] for row in model.env.cr.fetchall()])
