"""The rewards flows, one file each, above the records (README › Design).

Records own their behaviour (the client on ``res.company``, customer linking on
``res.partner``, locks and value hooks on ``pos.order``); a flow strings those steps
together for one purpose. Flows import no model module: they reach records through
what they are given, and models call them from their entry points only.
"""
