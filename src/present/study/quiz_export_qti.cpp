// QTI 1.2 as Canvas imports it (Settings > Import course content > QTI .zip
// file): imsmanifest.xml naming one assessment per variant, each in its own
// folder. A question is Canvas's numerical_question: the answer with its
// margin (<varequal> or a <vargte>/<varlte> range), the quiz's whole
// acceptance interval as a range answer when it reaches further, the hint as
// the feedback for a wrong answer (general_incorrect_fb) and the worked
// arithmetic as the feedback shown after any answer (general_fb).
#include <fmt/format.h>

#include "bnstep/quiz_export.hpp"
#include "bnstep/visible.hpp"
#include "study/quiz_export_html.hpp"

namespace bnstep {
namespace {

using quiz_html::xml_text;

std::string qti_ident(const ExportedVariant& v) { return fmt::format("bnstep_variant_{}", v.variant); }

std::string qti_material(const std::string& html) {
    return "<material><mattext texttype=\"text/html\">" + xml_text(html) + "</mattext></material>";
}

std::string qti_range(double low, double high) {
    return fmt::format("<vargte respident=\"response1\">{}</vargte><varlte respident=\"response1\">{}</varlte>",
                       plain_decimal(low), plain_decimal(high));
}

std::string qti_item(const ExportedQuestion& q, const std::string& ident) {
    const Acceptance& a = q.acceptance;
    std::string s = fmt::format("      <item ident=\"{}\" title=\"{}\">\n", ident, xml_text(visible(q.title)));
    s += "        <itemmetadata><qtimetadata>"
         "<qtimetadatafield><fieldlabel>question_type</fieldlabel><fieldentry>numerical_question</fieldentry>"
         "</qtimetadatafield><qtimetadatafield><fieldlabel>points_possible</fieldlabel><fieldentry>1.0</fieldentry>"
         "</qtimetadatafield></qtimetadata></itemmetadata>\n";
    s += "        <presentation>" + qti_material(quiz_html::question_html(q, false)) +
         "<response_str ident=\"response1\" rcardinality=\"Single\"><render_fib fibtype=\"Decimal\">"
         "<response_label ident=\"answer1\"/></render_fib></response_str></presentation>\n";
    s += "        <resprocessing>\n          <outcomes><decvar maxvalue=\"100\" minvalue=\"0\" varname=\"SCORE\" "
         "vartype=\"Decimal\"/></outcomes>\n";
    s += "          <respcondition continue=\"Yes\"><conditionvar><other/></conditionvar>"
         "<displayfeedback feedbacktype=\"Response\" linkrefid=\"general_fb\"/></respcondition>\n";
    s += fmt::format(
        "          <respcondition continue=\"No\"><conditionvar><or><varequal respident=\"response1\">{}</varequal>"
        "<and>{}</and></or></conditionvar><setvar action=\"Set\" varname=\"SCORE\">100</setvar></respcondition>\n",
        plain_decimal(a.answer),
        a.symmetric() ? qti_range(a.low, a.high) : qti_range(a.answer - a.tolerance, a.answer + a.tolerance));
    if (!a.symmetric())
        s += fmt::format(
            "          <respcondition continue=\"No\"><conditionvar>{}</conditionvar>"
            "<setvar action=\"Set\" varname=\"SCORE\">100</setvar></respcondition>\n",
            qti_range(a.low, a.high));
    s += "          <respcondition continue=\"Yes\"><conditionvar><other/></conditionvar>"
         "<displayfeedback feedbacktype=\"Response\" linkrefid=\"general_incorrect_fb\"/></respcondition>\n";
    s += "        </resprocessing>\n";
    s += "        <itemfeedback ident=\"general_fb\"><flow_mat>" + qti_material(quiz_html::worked_html(q)) +
         "</flow_mat></itemfeedback>\n";
    s += "        <itemfeedback ident=\"general_incorrect_fb\"><flow_mat>" + qti_material(quiz_html::hint_html(q)) +
         "</flow_mat></itemfeedback>\n";
    return s + "      </item>\n";
}

std::string qti_assessment(const ExportedQuiz& quiz, const ExportedVariant& v) {
    const std::string ident = qti_ident(v);
    std::string s =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<questestinterop xmlns=\"http://www.imsglobal.org/xsd/ims_qtiasiv1p2\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://www.imsglobal.org/xsd/"
        "ims_qtiasiv1p2 http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd\">\n";
    s += fmt::format("  <assessment ident=\"{}\" title=\"{}\">\n", ident,
                     xml_text(visible(fmt::format("{}, {}", quiz.lesson, v.label))));
    s += "    <qtimetadata><qtimetadatafield><fieldlabel>cc_maxattempts</fieldlabel><fieldentry>1</fieldentry>"
         "</qtimetadatafield></qtimetadata>\n";
    s += "    <section ident=\"root_section\">\n";
    for (std::size_t k = 0; k < v.questions.size(); ++k)
        s += qti_item(v.questions[k], fmt::format("{}_q{}", ident, k + 1));
    return s + "    </section>\n  </assessment>\n</questestinterop>\n";
}

std::string qti_manifest(const ExportedQuiz& quiz) {
    std::string s =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<manifest identifier=\"bnstep_quiz\" xmlns=\"http://www.imsglobal.org/xsd/imscp_v1p1\" "
        "xmlns:imsmd=\"http://www.imsglobal.org/xsd/imsmd_v1p2\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://www.imsglobal.org/xsd/"
        "imscp_v1p1 http://www.imsglobal.org/xsd/imscp_v1p1.xsd http://www.imsglobal.org/xsd/imsmd_v1p2 "
        "http://www.imsglobal.org/xsd/imsmd_v1p2p2.xsd\">\n";
    s += fmt::format(
        "  <metadata><schema>IMS Content</schema><schemaversion>1.1.3</schemaversion><imsmd:lom><imsmd:general>"
        "<imsmd:title><imsmd:string>{}</imsmd:string></imsmd:title></imsmd:general></imsmd:lom></metadata>\n",
        xml_text(visible("bnstep quiz: " + quiz.title)));
    s += "  <organizations/>\n  <resources>\n";
    for (const ExportedVariant& v : quiz.variants) {
        const std::string ident = qti_ident(v);
        s += fmt::format(
            "    <resource identifier=\"{0}\" type=\"imsqti_xmlv1p2\"><file href=\"{0}/{0}.xml\"/>"
            "</resource>\n",
            ident);
    }
    return s + "  </resources>\n</manifest>\n";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> quiz_qti_files(const ExportedQuiz& quiz) {
    std::vector<std::pair<std::string, std::string>> files{{"imsmanifest.xml", qti_manifest(quiz)}};
    for (const ExportedVariant& v : quiz.variants) {
        const std::string ident = qti_ident(v);
        files.emplace_back(ident + "/" + ident + ".xml", qti_assessment(quiz, v));
    }
    return files;
}

}  // namespace bnstep
