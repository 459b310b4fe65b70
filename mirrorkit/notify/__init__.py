"""The built-in notifiers (webhook, SNS), registered as a plugin like any third-party one.

The notifier API itself (NotifierPlugin, NotifyContext, NotifyError) is in the core, exported
by :mod:`mirrorkit.api`; the core never imports this package.
"""
