import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

WORKSHOP_USERS = ("admin", "alice", "bob")


class Command(BaseCommand):
    help = "Create the workshop's superusers (admin, alice, bob) without prompting."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="password for new users (default: a random one)")

    def handle(self, *args, password=None, **options):
        User = get_user_model()
        chosen = password or secrets.token_urlsafe(9)
        created = []
        for username in WORKSHOP_USERS:
            if User.objects.filter(username=username).exists():
                self.stdout.write(f"{username} already exists: left as it is")
                continue
            User.objects.create_superuser(username, f"{username}@example.com", chosen)
            created.append(username)
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created {', '.join(created)}"))
            if password is None:
                self.stdout.write(f"Password: {chosen} (shown once: write it down)")
