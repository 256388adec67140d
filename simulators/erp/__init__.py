"""An organisation's ERP, as the switch's institutional bill payment meets it."""
