from messaging import services
from messaging.demo import demo_load_templates
from messaging.encoding import text_info
from messaging.models import Channel, MessageTemplate, Schedule
from tests.campaigns.factories import CampaignFactory

CODES = ["000-lau-nam-hcm", "001-muc-cuoc-kv5", "002-goi-ra-kv9", "003-doi-sim-4g"]


def test_demo_templates_cover_the_seed_messages_and_fit(db):
    for code in CODES:
        CampaignFactory(code=code)
    created = demo_load_templates()
    assert demo_load_templates() == 0
    assert created == MessageTemplate.objects.count() == 14
    for template in MessageTemplate.objects.all():
        template.full_clean()
        info = template.sample_info()
        if template.channel == Channel.SMS:
            assert info.encoding == "gsm7", template
    points = MessageTemplate.objects.get(
        campaign__code="002-goi-ra-kv9", purpose="points"
    )
    assert points.sender == "MobiFone 9"
    dates = [
        s.send_at.strftime("%d/%m")
        for s in Schedule.objects.filter(template=points).order_by("sequence")
    ]
    assert dates == ["28/10", "30/10"]
    invitation = MessageTemplate.objects.get(
        campaign__code="000-lau-nam-hcm", purpose="invitation"
    )
    assert invitation.sensitive
    # The seed text is 307 characters without marks: three SMS.
    assert text_info(invitation.render(invitation.sample_context())).segments == 3


def test_demo_zalo_template_names_a_zns_template_but_waits_for_agents(db):
    campaign = CampaignFactory(code="002-goi-ra-kv9")
    demo_load_templates()
    zalo = MessageTemplate.objects.get(channel=Channel.ZALO)
    assert zalo.zalo_template_id == "231020"
    # No ZNS access token in the demo: the work list, as before.
    message = services.message_enqueue(
        campaign=campaign,
        msisdn="0901234567",
        purpose="zalo_record_update",
        channel="zalo",
        context={},
    )
    assert message.status == "held"
    assert message.zalo_template_id == "231020"
