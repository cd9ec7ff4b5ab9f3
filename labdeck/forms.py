"""The instructor's workshop form."""
from __future__ import annotations

from django import forms

from labdeck.models import Workshop
from lessons import catalog


class WorkshopForm(forms.ModelForm):
    course = forms.ChoiceField()
    sections = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to teach the whole course.")

    class Meta:
        model = Workshop
        fields = ["title", "course", "sections", "expected_attendees", "initial", "reserved", "capacity",
                  "starts_at", "ends_at", "open"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        courses = catalog.load_all()[0]
        self.fields["course"].choices = [(slug, course.title) for slug, course in courses.items()]
        self.fields["sections"].choices = [
            (section.id, f"{course.title}: {section.title}")
            for course in courses.values() for section in course.sections()]
        self.fields["initial"].help_text = "Sandboxes prepared before the start; empty: one per expected attendee."

    def clean(self):
        data = super().clean()
        course = catalog.get(data.get("course") or "")
        if course is not None and data.get("sections"):
            known = {section.id for section in course.sections()}
            foreign = [s for s in data["sections"] if s not in known]
            if foreign:
                self.add_error("sections", f"Not part of {course.title}: {', '.join(foreign)}.")
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The workshop must end after it starts.")
        if data.get("initial") and data.get("capacity") and data["initial"] > data["capacity"]:
            self.add_error("initial", "Cannot prepare more sandboxes than the capacity.")
        return data
