from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_batchqueue.djtasks import AVAILABLE

        if AVAILABLE:  # the test suite sees Django's task signals sent in worker processes
            from django_batchqueue.djtasks import task_finished, task_started

            from .models import record

            def started(sender, task_result, **kwargs):
                record("signal:task_started", id=task_result.id, status=str(task_result.status))

            def finished(sender, task_result, **kwargs):
                record("signal:task_finished", id=task_result.id, status=str(task_result.status))

            task_started.connect(started, weak=False, dispatch_uid="testapp-task-started")
            task_finished.connect(finished, weak=False, dispatch_uid="testapp-task-finished")
